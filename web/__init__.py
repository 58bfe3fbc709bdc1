"""The platform's own pages and plumbing: layout, home, errors, security headers, health, metrics."""
