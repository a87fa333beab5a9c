"""API tokens: stored only as hashes (hashing is the caller's job), found by hash, revoked.

Creating a token and revoking one move the route revision in the same transaction:
the gateway's route snapshot lists the tokens that may call private endpoints.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from waypost.errors import Conflict, NotFound
from waypost.store.base import StoreBase, bump_revision, insert_if_missing
from waypost.store.reading import token_record
from waypost.store.records import TokenRecord
from waypost.store.tables import Token

__all__ = ["TokensMixin"]


class TokensMixin(StoreBase):
    def create_token(
        self,
        *,
        name: str,
        token_hash: str,
        scope: str,
        project: str | None = None,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """A new token; Conflict if a token with that hash exists already."""
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError(f"expires_at must be an aware datetime, not naive {expires_at}")
        with self._write() as session:
            values = {
                "name": name,
                "token_hash": token_hash,
                "scope": scope,
                "project": project,
                "created_at": self._now(),
                "expires_at": expires_at,
                "revoked": False,
            }
            if not insert_if_missing(session, Token, values):
                raise Conflict(f"cannot create token {name!r}: a token with that hash exists")
            record = token_record(
                session.scalars(select(Token).where(Token.token_hash == token_hash)).one()
            )
            bump_revision(session)
            return record

    def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with that hash, revoked or expired ones included (the caller judges)."""
        with self._read() as session:
            row = session.scalars(select(Token).where(Token.token_hash == token_hash)).first()
            return None if row is None else token_record(row)

    def list_tokens(self) -> list[TokenRecord]:
        with self._read() as session:
            return [token_record(row) for row in session.scalars(select(Token).order_by(Token.id))]

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Revoke a token for good; revoking a revoked token changes nothing."""
        with self._write() as session:
            updated = session.execute(
                update(Token)
                .where(Token.id == token_id, Token.revoked.is_(False))
                .values(revoked=True)
                .returning(Token.id)
                .execution_options(synchronize_session=False)
            ).first()
            row = session.scalars(
                select(Token).where(Token.id == token_id).execution_options(populate_existing=True)
            ).first()
            if row is None:
                raise NotFound(f"there is no token with id {token_id}")
            record = token_record(row)
            if updated is not None:
                bump_revision(session)
            return record
