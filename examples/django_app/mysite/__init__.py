"""The Django recipe: a tiny shop whose logging goes to PostHog through analyticskit."""
