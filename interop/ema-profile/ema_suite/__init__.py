"""The independent client and black-box suite for profiles/enterprise-managed-authorization.md."""
