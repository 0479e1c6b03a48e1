from rest_framework_simplejwt.serializers import TokenObtainPairSerializer


class ClaimsTokenObtainPairSerializer(TokenObtainPairSerializer):
    """simplejwt's pair, with "username" and "roles" (the user's groups) in
    the refresh token, hence in every access token made from it (simplejwt
    copies a refresh token's claims but token_type, exp and jti), rotated
    ones included. user_id stays simplejwt's default claim."""

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["username"] = user.get_username()
        token["roles"] = sorted(user.groups.values_list("name", flat=True))
        return token
