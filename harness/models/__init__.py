"""Models: pure functions from a scenario (and calibration) to predictions. ``latency`` (MVA
per phase), ``queueing`` (Erlang C, MVA), ``availability`` (quorum reachability, k-of-n),
``lww`` (lost updates under clock skew), ``staleness`` (PBS t-visibility)."""
