"""Real-time plumbing: the broadcast hub that wakes subscribers across server processes."""
