"""Authentication and roles: users (argon2 hashes), console sessions (cookie), API tokens (bearer).

`api.auth.deps` is what other packages import: `Role`, `Principal`, `require_roles`, `current_principal`.
"""
