"""The audit log: logins (including failures) and every change, who, when, from where."""
