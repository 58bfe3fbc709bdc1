"""Users, roles, sign-in, personal API tokens."""
