"""Fixtures for the cross-domain race tests: the fees helpers of tests/fees (imported, not copied)."""

from __future__ import annotations

import pytest

from tests.fees.conftest import Fees
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import Accounts


@pytest.fixture
def fees(accounts: Accounts, dossiers: Dossiers) -> Fees:
    return Fees(accounts, dossiers)
