from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>`` for tooling (DRF tokens, one per user)."""

    keyword = "Bearer"
