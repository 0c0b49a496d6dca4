"""Authentication and authorisation for every service: identity's tokens verified locally from
its JWKS, revocations from ``identity.events``, and ``can()`` with the condition language."""

from lookout_kit.auth.caller import Caller, Permission, ServiceCaller
from lookout_kit.auth.conditions import Conditions, condition_json_schema, parse_conditions
from lookout_kit.auth.dependencies import Authenticator, current_caller, current_service
from lookout_kit.auth.jwks import HttpKeySource, JwksCache, KeySource
from lookout_kit.auth.policy import ACTIONS, RESOURCES, Target, can, conditions_hold
from lookout_kit.auth.revocation import RevocationCache, subscribe_revocations
from lookout_kit.auth.verify import TokenVerifier

__all__ = [
    "ACTIONS",
    "RESOURCES",
    "Authenticator",
    "Caller",
    "Conditions",
    "HttpKeySource",
    "JwksCache",
    "KeySource",
    "Permission",
    "RevocationCache",
    "ServiceCaller",
    "Target",
    "TokenVerifier",
    "can",
    "condition_json_schema",
    "conditions_hold",
    "current_caller",
    "current_service",
    "parse_conditions",
    "subscribe_revocations",
]
