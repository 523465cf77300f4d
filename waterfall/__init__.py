"""Domain core of the waterfall rollout: store, routing, executor, metrics, gate."""
