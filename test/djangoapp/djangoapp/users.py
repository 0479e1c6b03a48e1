"""Users from DJANGOAPP_USERS, created at start.

Either a JSON list:
    [{"username": "alice", "password": "pw", "groups": ["admin"],
      "email": "alice@example.test", "is_staff": false}, ...]
or the short form "alice:pw:admin|staff,bob:pw:" (user:password:groups,
groups separated by "|", users by ","; no ":" or "," in names or
passwords). email defaults to <username>@example.test, is_staff to false.
"""

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


def parse(spec):
    spec = spec.strip()
    if not spec:
        return []
    if spec.startswith("["):
        users = json.loads(spec)
    else:
        users = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) not in (2, 3) or not parts[0]:
                raise ValueError("DJANGOAPP_USERS: want user:password:groups, got an item with %d fields" % len(parts))
            groups = [g for g in (parts[2].split("|") if len(parts) == 3 else []) if g]
            users.append({"username": parts[0], "password": parts[1], "groups": groups})
    for u in users:
        if not u.get("username") or not isinstance(u.get("password"), str):
            raise ValueError("DJANGOAPP_USERS: every user needs a username and a password")
    return users


def create(spec):
    User = get_user_model()
    for u in parse(spec):
        user = User(
            username=u["username"],
            email=u.get("email") or "%s@example.test" % u["username"],
            is_staff=bool(u.get("is_staff", False)),
        )
        user.set_password(u["password"])
        user.save()
        for name in u.get("groups") or []:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
