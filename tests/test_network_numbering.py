"""Numbering plan: SMPP (address, TON, NPI) to classified addresses, and the Faker provider of test numbers."""

from __future__ import annotations

import phonenumbers
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.network.fakers import SmscProvider
from simulator.network.numbering import (
    DEFAULT_OPERATOR_ALIASES,
    Address,
    AddressError,
    NumberingPlan,
    normalize,
    resolve_operator,
)
from simulator.smpp.constants import CommandStatus, Npi, Ton

FAST = settings(max_examples=100, deadline=None)

# The default network profile's short codes.
SHORT_CODES = {"20345": "FR", "38100": "FR", "31244": "FR", "51244": "FR", "71244": "FR", "967482": "GB"}

INTL, NAT, UNKNOWN, NETWORK, SUBSCRIBER, ALPHA, ABBREV = 1, 2, 0, 3, 4, 5, 6
ISDN = 1


@pytest.fixture
def plan() -> NumberingPlan:
    return NumberingPlan(short_codes=SHORT_CODES)


def dest(plan: NumberingPlan, addr: str, ton: int = INTL, npi: int = ISDN, country: str | None = None) -> Address:
    return plan.parse_destination(addr, ton, npi, account_country=country)


def src(plan: NumberingPlan, addr: str, ton: int = INTL, npi: int = ISDN, country: str | None = None) -> Address:
    return plan.parse_source(addr, ton, npi, account_country=country)


def dest_error(
    plan: NumberingPlan, addr: str, ton: int = INTL, npi: int = ISDN, country: str | None = None
) -> AddressError:
    with pytest.raises(AddressError) as info:
        dest(plan, addr, ton, npi, country)
    return info.value


def src_error(
    plan: NumberingPlan, addr: str, ton: int = INTL, npi: int = ISDN, country: str | None = None
) -> AddressError:
    with pytest.raises(AddressError) as info:
        src(plan, addr, ton, npi, country)
    return info.value


# --- operators and number types ---------------------------------------------------------------

# Each number falls in a range that phonenumbers' carrier data gives to that operator (prefix in comments).
FR_MOBILES = [
    ("+33642123456", "Orange"),  # 33642 Orange France
    ("+33678123456", "Orange"),  # 3367 Orange France
    ("+33784123456", "Orange"),  # 3378 Orange France
    ("+33612345678", "SFR"),  # 3361 SFR
    ("+33776123456", "SFR"),  # 33776 SFR
    ("+33658123456", "Bouygues Telecom"),  # 33658 Bouygues
    ("+33660123456", "Bouygues Telecom"),  # 3366 Bouygues
    ("+33760123456", "Bouygues Telecom"),  # 3376 Bouygues
    ("+33695123456", "Free"),  # 33695 Free Mobile
    ("+33651123456", "Free"),  # 33651 Free Mobile
    ("+33766123456", "Free"),  # 33766 Free Mobile
    ("+33758123456", "Lycamobile"),  # 33758, no alias: the carrier name is kept
]

GB_MOBILES = [
    ("+447375123456", "EE"),  # 447375 EE
    ("+447790123456", "EE"),  # 447790 Orange (UK): EE's legacy Orange range
    ("+447710123456", "O2"),  # 44771 O2
    ("+447770123456", "Vodafone"),  # 447770 Vodafone
    ("+447400123456", "Three"),  # 447400 Three
    ("+447305123456", "Virgin Mobile"),  # 447305, no alias: the carrier name is kept
]


@pytest.mark.parametrize(("number", "operator"), FR_MOBILES)
def test_french_mobiles_are_classified_by_operator(plan, number, operator):
    address = dest(plan, number)
    assert address == Address(
        raw=number, ton=INTL, npi=ISDN, kind="e164", e164=number, country="FR", operator=operator, number_type="mobile"
    )


@pytest.mark.parametrize(("number", "operator"), GB_MOBILES)
def test_uk_mobiles_are_classified_by_operator(plan, number, operator):
    address = dest(plan, number)
    assert (address.kind, address.country, address.operator, address.number_type) == ("e164", "GB", operator, "mobile")


def test_crown_dependency_ranges_share_plus_44_but_not_the_country(plan):
    # The profile's international long number is, for phonenumbers, a Jersey (JT) mobile.
    address = dest(plan, "+447797805210")
    assert (address.country, address.operator, address.number_type) == ("JE", "JT", "mobile")


@pytest.mark.parametrize(
    ("number", "country", "number_type"),
    [
        ("+33142685300", "FR", "fixed_line"),
        ("+33891123456", "FR", "premium_rate"),
        ("+33801234567", "FR", "toll_free"),
        ("+449012345678", "GB", "premium_rate"),
        ("+448001234567", "GB", "toll_free"),
    ],
)
def test_non_mobile_numbers_have_a_type_and_no_operator(plan, number, country, number_type):
    address = dest(plan, number)
    assert (address.country, address.operator, address.number_type) == (country, None, number_type)


def test_non_geographic_numbers_have_no_country(plan):
    address = dest(plan, "+80012345678")
    assert (address.kind, address.country, address.number_type) == ("e164", None, "toll_free")


def test_aliases_are_country_qualified_first_then_plain():
    aliases = {"GB:Orange": "EE", "Orange": "Orange Group", "SFR": "Altice"}
    assert resolve_operator("GB", "Orange", aliases) == "EE"
    assert resolve_operator("ES", "Orange", aliases) == "Orange Group"
    assert resolve_operator("FR", "SFR", aliases) == "Altice"
    assert resolve_operator("FR", "Prixtel", aliases) == "Prixtel"
    assert resolve_operator("FR", "", aliases) is None
    # Spanish Orange numbers must not be relabelled by the UK alias.
    assert resolve_operator("ES", "Orange", DEFAULT_OPERATOR_ALIASES) == "Orange"


def test_custom_aliases_replace_the_defaults():
    plan = NumberingPlan(operator_aliases={"Free Mobile": "Iliad"})
    assert dest(plan, "+33695123456").operator == "Iliad"
    assert dest(plan, "+33642123456").operator == "Orange France"


def test_ported_override_replaces_the_operator():
    plan = NumberingPlan(ported={"+33612345678": "Free"})
    ported = dest(plan, "0612345678", NAT, country="FR")
    assert (ported.operator, ported.ported, ported.number_type) == ("Free", True, "mobile")
    assert (dest(plan, "+33611223344").operator, dest(plan, "+33611223344").ported) == ("SFR", False)


def test_number_type_override_replaces_the_type():
    plan = NumberingPlan(number_type_overrides={"+33142685300": "voip"})
    assert dest(plan, "+33142685300").number_type == "voip"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"short_codes": {"2034A": "FR"}},
        {"short_codes": {"20345": "France"}},
        {"ported": {"33612345678": "Free"}},
        {"number_type_overrides": {"+33142685300": "landline"}},
    ],
)
def test_bad_configuration_is_refused(kwargs):
    with pytest.raises(ValueError):
        NumberingPlan(**kwargs)


# --- TON 1 international ----------------------------------------------------------------------


def test_international_with_and_without_plus(plan):
    with_plus = dest(plan, "+33612345678")
    without_plus = dest(plan, "33612345678")
    assert with_plus.e164 == without_plus.e164 == "+33612345678"
    assert without_plus.raw == "33612345678"
    assert normalize(with_plus) == normalize(without_plus) == "+33612345678"


def test_require_plus_rejects_a_bare_international_number():
    strict = NumberingPlan(require_plus=True)
    assert dest(strict, "+33612345678").e164 == "+33612345678"
    error = dest_error(strict, "33612345678")
    assert error.status == CommandStatus.ESME_RINVDSTADR
    assert "'+'" in str(error)
    assert src_error(strict, "447400123456").status == CommandStatus.ESME_RINVSRCADR


@pytest.mark.parametrize(
    ("addr", "reason"),
    [
        ("+3361234567890123", "digits"),  # 16 digits: longer than E.164 allows
        ("+3361234567A", "digits"),
        ("+33 612345678", "digits"),
        ("+", "digits"),
        ("+999123456789", "unknown country code"),
        ("+33012345678", "not a valid number"),
        ("+3361234567", "not a valid number"),  # one digit short
        ("+4470", "not a valid number"),
    ],
)
def test_invalid_international_numbers(plan, addr, reason):
    error = dest_error(plan, addr)
    assert error.status == CommandStatus.ESME_RINVDSTADR
    assert reason in error.reason
    assert repr(addr) in str(error)
    assert src_error(plan, addr).status == CommandStatus.ESME_RINVSRCADR


def test_address_error_is_a_value_error_with_the_status(plan):
    error = dest_error(plan, "+999123456789")
    assert isinstance(error, ValueError)
    assert error.status == CommandStatus.ESME_RINVDSTADR
    assert (error.address, error.role) == ("+999123456789", "destination")


# --- TON 2 national and TON 4 subscriber ------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "country", "e164", "operator"),
    [
        ("0612345678", "FR", "+33612345678", "SFR"),
        ("612345678", "FR", "+33612345678", "SFR"),
        ("0695123456", "fr", "+33695123456", "Free"),
        ("0142685300", "FR", "+33142685300", None),
        ("07400123456", "GB", "+447400123456", "Three"),
        ("07790123456", "GB", "+447790123456", "EE"),
    ],
)
def test_national_numbers_resolve_with_the_account_country(plan, addr, country, e164, operator):
    address = dest(plan, addr, NAT, country=country)
    assert (address.raw, address.ton, address.e164, address.operator) == (addr, NAT, e164, operator)


def test_subscriber_numbers_read_as_national(plan):
    assert dest(plan, "0612345678", SUBSCRIBER, country="FR").e164 == "+33612345678"


def test_national_without_account_country_is_refused(plan):
    error = dest_error(plan, "0612345678", NAT)
    assert error.status == CommandStatus.ESME_RINVDSTADR
    assert "account" in error.reason
    assert src_error(plan, "0612345678", NAT).status == CommandStatus.ESME_RINVSRCADR


@pytest.mark.parametrize(
    "addr",
    ["+33612345678", "0033612345678", "33612345678", "06123456", "061234567A", "06123456789"],
)
def test_national_refuses_international_forms_and_invalid_numbers(plan, addr):
    assert dest_error(plan, addr, NAT, country="FR").status == CommandStatus.ESME_RINVDSTADR


def test_a_french_national_number_is_not_a_uk_one(plan):
    assert dest_error(plan, "0612345678", NAT, country="GB").status == CommandStatus.ESME_RINVDSTADR


# --- TON 0 unknown ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "country", "e164"),
    [
        ("+33612345678", None, "+33612345678"),  # '+' means international
        ("33612345678", None, "+33612345678"),  # valid international tried first
        ("447400123456", "FR", "+447400123456"),  # ...even with an account country
        ("0612345678", "FR", "+33612345678"),  # not international: national of the account
        ("07400123456", "GB", "+447400123456"),
        ("0033612345678", "FR", "+33612345678"),  # IDD prefix as dialled from France
        ("00447400123456", "FR", "+447400123456"),
    ],
)
def test_unknown_ton_heuristics(plan, addr, country, e164):
    address = dest(plan, addr, UNKNOWN, country=country)
    assert (address.kind, address.e164, address.ton) == ("e164", e164, UNKNOWN)


def test_unknown_ton_without_account_country_needs_a_valid_international_number(plan):
    error = dest_error(plan, "0612345678", UNKNOWN)
    assert error.status == CommandStatus.ESME_RINVDSTADR
    assert "account country" in error.reason


@pytest.mark.parametrize("addr", ["06 12 34 56 78", "MyShop", "*123#"])
def test_unknown_ton_destination_must_be_numeric(plan, addr):
    assert dest_error(plan, addr, UNKNOWN, country="FR").status == CommandStatus.ESME_RINVDSTADR


# --- short codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "country"), sorted(SHORT_CODES.items()))
@pytest.mark.parametrize("ton", [UNKNOWN, NETWORK, ABBREV, NAT, INTL])
def test_declared_short_codes(plan, code, country, ton):
    address = dest(plan, code, ton, country="FR")
    assert address == Address(raw=code, ton=ton, npi=ISDN, kind="short_code", country=country, number_type="short_code")
    assert normalize(address) == code
    assert src(plan, code, ton).kind == "short_code"


@pytest.mark.parametrize("ton", [NETWORK, ABBREV])
def test_undeclared_short_codes_are_refused(plan, ton):
    assert dest_error(plan, "36180", ton, country="FR").status == CommandStatus.ESME_RINVDSTADR
    assert src_error(plan, "36180", ton, country="FR").status == CommandStatus.ESME_RINVSRCADR


def test_a_short_code_with_plus_is_an_international_number(plan):
    assert dest_error(plan, "+20345", UNKNOWN).status == CommandStatus.ESME_RINVDSTADR


def test_undeclared_short_code_with_unknown_ton_is_not_guessed(plan):
    assert dest_error(plan, "36180", UNKNOWN, country="FR").status == CommandStatus.ESME_RINVDSTADR


# --- alphanumeric senders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender", ["ABC", "MyShop", "Shop-24", "AT&T", "O'Neil", "Bank.fr", "my_bank", "Pay+", "Le Bon Coin"]
)
def test_valid_alphanumeric_senders(plan, sender):
    address = src(plan, sender, ALPHA, 0)
    assert address == Address(raw=sender, ton=ALPHA, npi=0, kind="alphanumeric")
    assert normalize(address) == sender


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("AB", "3 to 11"),  # too short
        ("ABCDEFGHIJKL", "3 to 11"),  # 12: too long for TP-OA
        ("12345", "letter"),  # purely numeric
        ("+33612345678", "3 to 11"),
        ("1-2.3", "letter"),
        ("Café", "ASCII"),
        ("Shop!", "ASCII"),
        ("Shop,Inc", "ASCII"),
        ("Shop\t", "ASCII"),
    ],
)
def test_invalid_alphanumeric_senders(plan, sender, reason):
    error = src_error(plan, sender, ALPHA, 0)
    assert error.status == CommandStatus.ESME_RINVSRCADR
    assert reason in error.reason
    assert "source" in str(error)


def test_alphanumeric_sender_with_unknown_ton(plan):
    assert src(plan, "MyShop", UNKNOWN, 0).kind == "alphanumeric"
    assert src_error(plan, "My!Shop", UNKNOWN, 0).status == CommandStatus.ESME_RINVSRCADR
    # Digits with TON 0 stay a number.
    assert src(plan, "33612345678", UNKNOWN, 0).kind == "e164"


def test_alphanumeric_is_not_a_destination(plan):
    assert dest_error(plan, "MyShop", ALPHA, 0).status == CommandStatus.ESME_RINVDSTADR


@given(st.text(alphabet="ABCxyz0189 '-._&+!,é", min_size=0, max_size=14))
@FAST
def test_alphanumeric_rule_property(text):
    plan = NumberingPlan()
    ok = (
        3 <= len(text) <= 11
        and all(c.isascii() and (c.isalnum() or c in " '-._&+") for c in text)
        and any(c.isalpha() for c in text)
    )
    try:
        address = plan.parse_source(text, ALPHA, 0, account_country=None)
    except AddressError as error:
        assert not ok
        assert error.status == CommandStatus.ESME_RINVSRCADR
    else:
        assert ok and address.kind == "alphanumeric"


# --- TON and NPI ranges -----------------------------------------------------------------------


@pytest.mark.parametrize("ton", [7, 8, 255, -1])
def test_ton_out_of_range(plan, ton):
    assert dest_error(plan, "+33612345678", ton).status == CommandStatus.ESME_RINVDSTTON
    assert src_error(plan, "+33612345678", ton).status == CommandStatus.ESME_RINVSRCTON


@pytest.mark.parametrize("npi", [2, 5, 7, 11, 13, 15, 17, 19, 255])
def test_npi_outside_the_standard_set(plan, npi):
    assert dest_error(plan, "+33612345678", INTL, npi).status == CommandStatus.ESME_RINVDSTNPI
    assert src_error(plan, "+33612345678", INTL, npi).status == CommandStatus.ESME_RINVSRCNPI


@pytest.mark.parametrize("npi", [int(n) for n in Npi])
def test_every_standard_npi_is_accepted(plan, npi):
    assert dest(plan, "+33612345678", INTL, npi).npi == npi


def test_enum_members_are_accepted(plan):
    address = dest(plan, "+33612345678", Ton.INTERNATIONAL, Npi.ISDN)
    assert (address.ton, address.npi) == (1, 1)


def test_empty_address_is_refused(plan):
    assert dest_error(plan, "", UNKNOWN).status == CommandStatus.ESME_RINVDSTADR
    assert src_error(plan, "", UNKNOWN).status == CommandStatus.ESME_RINVSRCADR


# --- Faker provider ---------------------------------------------------------------------------


@pytest.fixture
def fake() -> Faker:
    generator = Faker()
    generator.add_provider(SmscProvider)
    generator.seed_instance(20345)
    return generator


@pytest.mark.parametrize(
    ("country", "operator"),
    [
        ("FR", "Orange"),
        ("FR", "SFR"),
        ("FR", "Bouygues Telecom"),
        ("FR", "Free"),
        ("FR", "Lycamobile"),
        ("GB", "EE"),
        ("GB", "O2"),
        ("GB", "Vodafone"),
        ("GB", "Three"),
        ("GB", None),
        ("FR", None),
    ],
)
def test_faker_msisdn_classifies_back(plan, fake, country, operator):
    for _ in range(20):
        number = fake.msisdn(country, operator)
        address = dest(plan, number)
        assert address.e164 == number
        assert (address.country, address.number_type) == (country, "mobile")
        if operator is not None:
            assert address.operator == operator


@pytest.mark.parametrize(
    ("country", "number_type"),
    [("FR", "fixed_line"), ("FR", "premium_rate"), ("FR", "toll_free"), ("GB", "premium_rate"), ("GB", "uan")],
)
def test_faker_msisdn_of_other_types(plan, fake, country, number_type):
    for _ in range(10):
        address = dest(plan, fake.msisdn(country, number_type=number_type))
        assert (address.country, address.number_type) == (country, number_type)


def test_faker_msisdn_varies(fake):
    assert len({fake.msisdn("FR", "Free") for _ in range(20)}) > 15


@pytest.mark.parametrize(
    ("country", "operator", "number_type"),
    [
        ("FR", "EE", "mobile"),
        ("XX", None, "mobile"),
        ("FR", None, "pager"),
        ("FR", None, "unknown"),
        ("FR", "SFR", "toll_free"),
    ],
)
def test_faker_msisdn_impossible_requests(fake, country, operator, number_type):
    with pytest.raises(ValueError):
        fake.msisdn(country, operator, number_type)


def test_faker_alphanumeric_senders_are_valid(plan, fake):
    for _ in range(100):
        sender = fake.alphanumeric_sender()
        assert src(plan, sender, ALPHA, 0).kind == "alphanumeric"


def test_faker_is_reproducible_with_seed():
    def draw() -> list[str]:
        generator = Faker()
        generator.add_provider(SmscProvider)
        return [generator.msisdn("FR", "Free"), generator.msisdn("GB"), generator.alphanumeric_sender()]

    Faker.seed(38100)
    first = draw()
    Faker.seed(38100)
    second = draw()
    Faker.seed(31244)
    other = draw()
    assert first == second
    assert first != other


def test_faker_with_custom_aliases():
    generator = Faker()
    generator.add_provider(SmscProvider(generator, operator_aliases={"Free Mobile": "Iliad"}))
    generator.seed_instance(1)
    number = generator.msisdn("FR", "Iliad")
    assert phonenumbers.carrier.name_for_number(phonenumbers.parse(number), "en") == "Free Mobile"
