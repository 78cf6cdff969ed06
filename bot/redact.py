"""PII redaction: emails, phones, cards, IBANs, SSNs, secret tokens and IPs → typed placeholders."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["contains_pii", "redact"]

# Patterns open with a character class and check the character before the match with a
# fixed-width look-behind placed after that first character: the regex engine can then skip
# straight to candidate characters (a leading look-behind would be evaluated at every position,
# 2-3x slower on long text), and a run of digits is scanned once from its start instead of from
# every position (no quadratic blow-up on hostile input). Digits are ASCII [0-9] on purpose: \d
# also matches Arabic-Indic or full-width digits, which no phone or card format here uses.

# -- secret tokens: matched first because they contain digit runs other patterns would nibble.
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"xox[abpre]-[A-Za-z0-9-]{8,}"  # Slack bot/user/app-level/refresh tokens
    r"|xapp-[0-9]+-[A-Za-z0-9-]{8,}"  # Slack app-level tokens
    r"|sk-[A-Za-z0-9_-]{20,}"  # OpenAI keys (sk-…, sk-proj-…, sk-svcacct-…)
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r")"
)
_BEARER = re.compile(r"\b([Bb]earer|BEARER)\s+[A-Za-z0-9._~+/-]{20,}=*")

# -- emails: \w is Unicode-aware, so internationalised addresses are caught too.
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")

# -- IBAN: country code, 2 check digits, BBAN; printed in groups of four or unbroken.
_IBAN = re.compile(r"[A-Z][A-Z](?<![A-Za-z0-9][A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]){11,30}")
# ISO 13616 registry lengths. Knowing the exact length lets us stop at the IBAN's end even when
# the greedy pattern ran on into the next words ("DE89 … 00 is my account").
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

# -- payment cards: 13–19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(
    r"[0-9](?<![0-9A-Za-z_.,/+-][0-9])(?:[ -]?[0-9]){12,18}(?![0-9A-Za-z_]|[.,/-][0-9])"
)

# -- US social security numbers, dashed form only (bare 9 digits is any order number).
_SSN = re.compile(
    r"[0-8](?<![0-9A-Za-z_.,/-][0-8])(?!(?<=0)00|(?<=6)66)[0-9]{2}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}"
    r"(?![0-9A-Za-z_]|[.,/-][0-9])"
)

# -- IPv4 (octet values are checked in _ip: a regex for 0-255 would defeat the fast scan)
_IP = re.compile(
    r"[0-9](?<![0-9A-Za-z_.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z_]|\.[0-9])"
)

# -- phones, one pass, three shapes. Bare digit runs are only phones after "+": without a
# separator a national number is indistinguishable from an order or tracking number.
_PHONE = re.compile(
    r"[+(0-9](?<![0-9A-Za-z_#+.,/$€£-][+(0-9])(?:"
    # international: +CC or 00CC, then groups split by one separator; "(0)" trunk allowed.
    # Separators are mandatory between groups, so a digit run is split one way only (linear).
    r"(?P<intl>(?:(?<=\+)|(?<=0)0)[1-9][0-9]*"
    r"(?:(?:[ .\-/]|[ ]?\(0\)[ ]?)(?:\([0-9]+\)|[0-9]+))*)"
    # North American: (212) 555-0199, 212-555-0199, 212.555.0199, 1-800-555-0199.
    r"|(?P<us>(?:(?<=1)[ .-](?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .-])"
    r"|(?<=\()[2-9][0-9]{2}\)[ ]?|(?<=[2-9])[0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4})"
    # UK / DE national: trunk 0 + area code, then 1–3 groups: 020 7946 0958, 07700 900123,
    # 030 12345678, 089/1234567, (0161) 496 0000. Dots are left out: 05.01.2024 is a date.
    r"|(?P<national>(?:(?<=\()0[1-9][0-9]{1,4}\)[ ]?|(?<=0)[1-9][0-9]{1,4}[ /-])[0-9]{2,8}"
    r"(?:[ -][0-9]{2,8}){0,2})"
    r")(?![0-9A-Za-z_]|[.,/-][0-9])"
)

_DIGIT = re.compile(r"[0-9]")
_NON_DIGIT = re.compile(r"[^0-9]")
_MASK_LOCAL = re.compile(r"[Xx]+")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_prefix_ok(digits: str) -> bool:
    # Issuer ranges (Visa 4, Mastercard 51–55/2221–2720, Amex 34/37, Diners 30/36/38,
    # Discover/UnionPay/Maestro 6, JCB 35, Maestro 50/56–58): a Luhn hit on a list of years or
    # quantities ("2019 2020 2021 2022") is then not taken for a card.
    first = digits[0]
    if first in "3456":
        return True
    return first == "2" and 2221 <= int(digits[:4]) <= 2720


def _is_card(groups: list[str]) -> bool:
    digits = "".join(groups)
    if not (13 <= len(digits) <= 19 and _card_prefix_ok(digits) and _luhn(digits)):
        return False
    # printed cards come in blocks of 4 (Amex 4-6-5, Diners 4-6-4), never 1–2 digit blocks
    return len(groups) == 1 or all(len(g) >= 3 for g in groups)


_CARD_SEP = re.compile(r"([ -])")


def _card(m: re.Match[str]) -> str:
    s = m.group()
    parts = _CARD_SEP.split(s)  # groups at even indexes, their separators at odd ones
    groups = parts[::2]
    if _is_card(groups):
        return "[card]"
    # the greedy match may have swallowed a neighbouring number ("qty 2 4111 1111 1111 1111"):
    # take the longest run of whole groups that is a card, and leave its neighbours alone.
    # Multi-group windows need blocks of 3+ digits and at most 19 digits: O(groups) windows.
    sizes = [len(g) for g in groups]
    best: tuple[int, int, int] | None = None
    for start in range(len(groups)):
        total = 0
        for end in range(start, len(groups)):
            if end > start and min(sizes[start], sizes[end]) < 3:
                break
            total += sizes[end]
            if total > 19:
                break
            if total >= 13 and (best is None or total > best[0]) and _is_card(
                groups[start:end + 1]
            ):
                best = (total, start, end + 1)
    if best is None:
        return s
    _, start, stop = best
    return "".join(parts[: 2 * start]) + "[card]" + "".join(parts[2 * stop - 1:])


def _iban_ok(candidate: str) -> bool:
    rearranged = candidate[4:] + candidate[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _iban(m: re.Match[str]) -> str:
    s = m.group()
    country = s[:2].upper()
    length = _IBAN_LENGTHS.get(country)
    if length is None:
        return s
    # walk the match until `length` alphanumerics are consumed; the rest goes back untouched
    seen = 0
    end = len(s)
    for i, ch in enumerate(s):
        if ch != " ":
            seen += 1
            if seen == length:
                end = i + 1
                break
    if seen < length:
        return s
    rest = s[end:]
    if rest[:1].isalnum():
        return s  # the run continues past the IBAN's length: some other code, not an IBAN
    if not _iban_ok(s[:end].replace(" ", "").upper()):
        return s
    return "[iban]" + rest


def _email(m: re.Match[str]) -> str:
    s = m.group()
    # the CFPB already masked it ("XXXX@XXXX.com"): leave its mask alone
    return s if _MASK_LOCAL.fullmatch(s.partition("@")[0]) else "[email]"


def _phone(m: re.Match[str]) -> str:
    s = m.group()
    if m.group("intl") is not None:
        body = s[1:] if s[0] == "+" else s[2:]
        body = body.replace("(0)", "")
        n = len(_NON_DIGIT.sub("", body))
        if not 8 <= n <= 15:  # E.164 allows at most 15 digits; fewer than 8 is no number
            return s
        if s[0] == "0" and not _NON_DIGIT.search(body):
            return s  # "0049…" unbroken is as likely an order number
        return "[phone]"
    if m.group("national") is not None:
        n = len(_NON_DIGIT.sub("", s))
        return "[phone]" if 10 <= n <= 12 else s
    return "[phone]"


def _ip(m: re.Match[str]) -> str:
    s = m.group()
    octets = s.split(".")
    if all(int(o) <= 255 and (o == "0" or o[0] != "0") for o in octets):
        return "[ip]"
    return s


def _bearer(m: re.Match[str]) -> str:
    return f"{m.group(1)} [token]"


_Repl = str | Callable[[re.Match[str]], str]

# Order matters: tokens and emails may hold digit runs; IBANs hold card-length digit runs;
# IPs hold dotted groups the phone pattern must not see.
_DIGIT_RULES: tuple[tuple[re.Pattern[str], _Repl], ...] = (
    (_IBAN, _iban),
    (_CARD, _card),
    (_SSN, "[ssn]"),
    (_IP, _ip),
    (_PHONE, _phone),
)


def redact(text: str) -> str:
    """Replace personal data and secrets in `text` with typed placeholders like `[email]`."""
    if not text:
        return text
    if "xox" in text or "xapp-" in text or "sk-" in text or "_" in text or "AKIA" in text:
        text = _TOKEN.sub("[token]", text)
    if "earer" in text or "oken" in text or "EARER" in text or "OKEN" in text:
        text = _BEARER.sub(_bearer, text)
    if "@" in text:
        text = _EMAIL.sub(_email, text)
    if _DIGIT.search(text) is None:
        return text  # every remaining pattern needs a digit: most chat text stops here
    for pattern, repl in _DIGIT_RULES:
        text = pattern.sub(repl, text)
    return text


def contains_pii(text: str) -> bool:
    """True when `redact` would change `text`."""
    return redact(text) != text
