"""Flask extensions, created unbound and initialised in the app factory."""

from flask_jwt_extended import JWTManager

jwt = JWTManager()
