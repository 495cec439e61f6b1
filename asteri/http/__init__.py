"""HTTP plumbing shared by every surface: request ids and problem+json responses."""
