"""Waterfall config validation: every problem at once, each with a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from waterfall.bootstrap import init_store
from waterfall.catalog import WaterfallEntry, WaterfallSpec
from waterfall.cli import main
from waterfall.errors import ConfigValidationError
from waterfall.settings import Settings
from waterfall.store import Store
from waterfall.store import repository as repo
from waterfall.store.models import Vendor, WaterfallConfigEntry
from waterfall.validation import find_problems

ACTIVE = {"A": True, "B": True, "C": True, "Old": False}


def spec(name: str, *entries: tuple[int, str]) -> WaterfallSpec:
    return WaterfallSpec(name, tuple(WaterfallEntry(p, v) for p, v in entries))


class TestFindProblems:
    def test_valid_config_has_no_problems(self) -> None:
        assert find_problems(spec("ok", (1, "A"), (2, "B")), ACTIVE) == []

    def test_duplicate_position_is_named(self) -> None:
        problems = find_problems(spec("dup", (1, "A"), (1, "B")), ACTIVE)
        assert any(p.field == "position" and p.value == 1 for p in problems)

    def test_gap_names_the_missing_position(self) -> None:
        problems = find_problems(spec("gap", (1, "A"), (3, "B")), ACTIVE)
        messages = [p.message for p in problems]
        assert "position 2 is missing" in messages

    def test_position_below_one_is_rejected(self) -> None:
        problems = find_problems(spec("zero", (0, "A"), (1, "B")), ACTIVE)
        assert any("start at 1" in p.message for p in problems)

    def test_unknown_vendor_lists_known_ones(self) -> None:
        problems = find_problems(spec("x", (1, "Nope")), ACTIVE)
        assert problems[0].value == "Nope"
        assert "A, B, C, Old" in problems[0].fix

    def test_inactive_vendor_is_rejected(self) -> None:
        problems = find_problems(spec("x", (1, "Old")), ACTIVE)
        assert problems[0].message == "vendor is inactive"

    def test_vendor_twice_is_rejected(self) -> None:
        problems = find_problems(spec("x", (1, "A"), (2, "A")), ACTIVE)
        assert any(p.message == "vendor appears 2 times" for p in problems)

    def test_existing_name_on_create_is_rejected(self) -> None:
        problems = find_problems(spec("standard", (1, "A")), ACTIVE, {"standard"}, True)
        assert problems[0].field == "config_name"

    def test_existing_name_on_update_is_allowed(self) -> None:
        assert find_problems(spec("standard", (1, "A")), ACTIVE, {"standard"}) == []

    def test_every_problem_is_reported_at_once(self) -> None:
        bad = spec("bad", (1, "Nope"), (1, "Old"), (4, "A"))
        assert len(find_problems(bad, ACTIVE)) >= 4


class TestStoreValidation:
    def test_init_loads_config_and_is_repeatable(self, store: Store, clock) -> None:
        config_dir = Settings().config_dir
        first = init_store(store, config_dir, clock.now())
        second = init_store(store, config_dir, clock.now())
        assert first == second
        with store.session() as session:
            standard = [v.name for v in repo.load_waterfall(session, "standard")]
            count = len(session.scalars(select(WaterfallConfigEntry)).all())
        assert standard == [
            "Vendor_D",
            "Vendor_B",
            "Vendor_A",
            "Vendor_C",
            "Cognism",
            "Vendor_E",
        ]
        assert count == 12

    def test_invalid_update_changes_nothing(self, store: Store, clock) -> None:
        init_store(store, Settings().config_dir, clock.now())
        with pytest.raises(ConfigValidationError), store.session() as session:
            repo.save_waterfall(
                session, spec("optimized", (1, "Cognism"), (3, "X")), False
            )
        with store.session() as session:
            names = [v.name for v in repo.load_waterfall(session, "optimized")]
        assert names[0] == "Cognism"
        assert len(names) == 6

    def test_database_rejects_duplicate_position(self, store: Store, clock) -> None:
        init_store(store, Settings().config_dir, clock.now())
        with pytest.raises(IntegrityError), store.session() as session:
            vendor_id = session.scalars(
                select(Vendor.id).where(Vendor.name == "Vendor_A")
            ).one()
            other = session.scalars(
                select(Vendor.id).where(Vendor.name == "Vendor_B")
            ).one()
            session.add(
                WaterfallConfigEntry(config_name="t", vendor_id=vendor_id, position=1)
            )
            session.add(
                WaterfallConfigEntry(config_name="t", vendor_id=other, position=1)
            )
            session.flush()

    def test_database_rejects_position_zero(self, store: Store, clock) -> None:
        init_store(store, Settings().config_dir, clock.now())
        with pytest.raises(IntegrityError), store.session() as session:
            vendor_id = session.scalars(
                select(Vendor.id).where(Vendor.name == "Vendor_A")
            ).one()
            session.add(
                WaterfallConfigEntry(config_name="t", vendor_id=vendor_id, position=0)
            )
            session.flush()

    def test_database_rejects_unknown_vendor(self, store: Store, clock) -> None:
        init_store(store, Settings().config_dir, clock.now())
        with pytest.raises(IntegrityError), store.session() as session:
            session.add(
                WaterfallConfigEntry(config_name="t", vendor_id=9999, position=1)
            )
            session.flush()


class TestValidateCommand:
    def test_valid_file_exits_zero(self) -> None:
        result = CliRunner().invoke(
            main, ["config", "validate", "config/waterfalls.yaml"]
        )
        assert result.exit_code == 0, result.output

    def test_bad_file_lists_every_problem_and_fails(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            "waterfalls:\n"
            "  - name: broken\n"
            "    vendors:\n"
            "      - {position: 1, vendor: Cognism}\n"
            "      - {position: 3, vendor: Vendor_Z}\n"
            "      - {position: 4, vendor: Cognism}\n"
        )
        result = CliRunner().invoke(main, ["config", "validate", str(bad)])
        assert result.exit_code == 1
        assert "position 2 is missing" in result.output
        assert "'Vendor_Z'" in result.output
        assert "vendor appears 2 times" in result.output


class TestHostileFiles:
    def validate(self, tmp_path: Path, content: str | bytes) -> object:
        path = tmp_path / "w.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return CliRunner().invoke(main, ["config", "validate", str(path)])

    def test_structural_problems_are_listed_together(self, tmp_path: Path) -> None:
        result = self.validate(
            tmp_path,
            (
                "waterfalls:\n"
                "  - {name: a, vendors: 5}\n"
                "  - {name: b, vendors: [{position: 1.7, vendor: Cognism}, null]}\n"
                "  - {name: b, vendors: [Cognism]}\n"
                "  - {name: null, vendors: [Cognism]}\n"
            ),
        )
        assert result.exit_code == 1
        assert "vendors=5: must be a list" in result.output
        assert "must be a vendor name or {position: integer" in result.output
        assert "the name is used twice" in result.output
        assert "name=None: must be a non-empty string" in result.output

    def test_yaml_aliases_are_rejected(self, tmp_path: Path) -> None:
        bomb = "a: &a [x, x]\nb: &b [*a, *a]\nwaterfalls: [*b]\n"
        result = self.validate(tmp_path, bomb)
        assert "aliases are not allowed" in str(result.exception)

    def test_binary_file_is_reported(self, tmp_path: Path) -> None:
        result = self.validate(tmp_path, b"\xff\xfe\x00garbage")
        assert "is not UTF-8 text" in str(result.exception)

    def test_unknown_wire_in_catalog_is_rejected(self, tmp_path: Path) -> None:
        catalog = tmp_path / "vendors.yaml"
        catalog.write_text(
            "vendors:\n  - {name: X, base_url: http://127.0.0.1:1, wire: bogus, "
            "cost_per_call: 0.1, timeout_s: 1}\n"
        )
        from waterfall.catalog import load_vendor_catalog
        from waterfall.errors import ConfigError

        with pytest.raises(ConfigError, match="unknown wire 'bogus'"):
            load_vendor_catalog(catalog)
