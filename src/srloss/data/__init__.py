"""Where HR images come from, how they are degraded, and how they are stored."""
