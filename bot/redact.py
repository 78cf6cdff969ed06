"""PII redaction: contact, payment and identity data, secrets and names → typed placeholders."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable

import phonenumbers

__all__ = ["contains_pii", "redact", "redact_all"]

# How it works. Detection runs on a *folded* copy of the text of exactly the same length:
# each character is replaced by its NFKC form when that is one character (full-width "＠" and
# "４", the no-break space) and every Unicode decimal digit by its ASCII digit (Arabic-Indic,
# Devanagari …). Positions in the folded copy are positions in the original, so placeholders
# are cut into the text as the customer wrote it. ASCII text (nearly every row) is not folded.
#
# Rules run in order; each match is masked in the folded copy with a filler of the same length
# so later rules cannot nibble at it (a card's digits are no phone), which keeps the old
# "substitute in order" semantics while the spans stay aligned.
#
# Patterns open with a character class and check the character before the match with a
# fixed-width look-behind placed after that first character: the regex engine can then skip
# straight to candidate characters (a leading look-behind would be evaluated at every position),
# and a run of digits is scanned once from its start instead of from every position (no
# quadratic blow-up on hostile input). Repetitions are bounded for the same reason.

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FILL = "\ue000"  # private use: not \w, not a digit, not a space, so it ends every pattern


class _Fold(dict[int, str]):
    """`str.translate` table filled on first sight of each code point."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out = str(digit)
        else:
            nfkc = unicodedata.normalize("NFKC", ch)
            out = nfkc if len(nfkc) == 1 else ch  # one-to-one, or positions would drift
        if len(self) < 100_000:  # hostile text with every code point must not grow it forever
            self[cp] = out
        return out


_FOLD = _Fold()

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
_BEARER = re.compile(r"\b(?:[Bb]earer|BEARER)\s+(?P<v>[A-Za-z0-9._~+/-]{20,}=*)")

# -- emails: \w is Unicode-aware, so internationalised addresses are caught too.
_EMAIL = re.compile(r"[\w.%+-](?<![\w.%+-][\w.%+-])[\w.%+-]{0,63} ?@ ?[\w-]+(?:\.[\w-]+)*"
                    r"\.[^\W\d_]{2,}")
_MASK_LOCAL = re.compile(r"[Xx]+")

# Written out to dodge scrapers: "ann (at) example (dot) com", "ann [at] example.com",
# "ann at example dot com". The spelled-out forms must end in a real-looking TLD, or "look at
# this dot com bubble" would be an address.
_AT = r"(?:\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+|\s*@\s*)"
_DOT = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+|\.)"
_TLD = (r"(?:com|org|net|edu|gov|mil|info|biz|io|co|me|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|"
        r"fi|pl|ie|ca|au|nz|in|jp|cn|br|mx|ru|eu|app|dev|ai|fm|tv|ly|xyz|online|shop)")
_EMAIL_SPELLED = re.compile(
    rf"[\w%+-](?<![\w.%+-][\w%+-])[\w%+-]{{0,63}}(?:{_DOT}[\w%+-]{{1,64}}){{0,3}}"
    rf"{_AT}[\w-]{{1,63}}(?:{_DOT}[\w-]{{1,63}}){{0,3}}?{_DOT}{_TLD}(?![\w])",
    re.IGNORECASE,
)
_SPELLED_HINT = re.compile(r"[(\[{<]\s*at\s*[)\]}>]", re.IGNORECASE)

# -- IBAN: country code, 2 check digits, BBAN; printed in groups of four, unbroken, or dashed.
# The scan starts at the first check digit (digits are rarer than letters, so the engine skips
# further) and looks back for the two-letter country code; _iban widens the span over it.
_IBAN = re.compile(
    r"[0-9](?<=[A-Za-z]{2}[0-9])(?<![A-Za-z0-9][A-Za-z]{2}[0-9])[0-9](?:[ -]?[A-Za-z0-9]){11,30}"
)
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

# -- payment cards: 13–19 digits, grouped by spaces, dashes, dots or slashes (or not at all).
_CARD_SEP_RE = r"(?: ?[./-] ?|  ?)"
_CARD = re.compile(
    rf"[0-9](?<![0-9A-Za-z_.,/+-][0-9])(?:{_CARD_SEP_RE}?[0-9]){{12,18}}"
    r"(?![0-9A-Za-z_]|[.,/-][0-9])"
)
_CARD_SEP = re.compile(rf"({_CARD_SEP_RE})")

# -- US social security numbers: 3-2-4 with one kind of separator. Nine bare digits are an
# SSN only when the text says so (_SSN_CONTEXT); otherwise they are any order number.
_SSN = re.compile(
    r"[0-8](?<![0-9A-Za-z_.,/-][0-8])(?!(?<=0)00|(?<=6)66)[0-9]{2}([- .])(?!00)[0-9]{2}\1"
    r"(?!0000)[0-9]{4}(?![0-9A-Za-z_]|[.,/-][0-9])"
)

# -- IPv4 (octet values are checked in _ip: a regex for 0-255 would defeat the fast scan)
_IP = re.compile(
    r"[0-9](?<![0-9A-Za-z_.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z_]|\.[0-9])"
)
# -- IPv6 candidates: hex and colons (an IPv4 tail and a zone allowed); `ipaddress` decides,
# so clock times ("10:30:00") and MAC addresses are left alone.
_IP6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.%][0-9A-Fa-f:])"
    r"(?:[0-9A-Fa-f:]{0,37}(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]{1,38})"
    r"(?:%[A-Za-z0-9_.]{1,16})?"
)

# -- phones, one pass, four shapes. Bare digit runs are only phones after "+" or a word that
# says phone: without a separator a national number is indistinguishable from an order number.
_PHONE = re.compile(
    r"[+(0-9](?<![0-9A-Za-z_#+.,/$€£-][+(0-9])(?:"
    # international: +CC or 00CC, then groups split by one separator; "(0)" trunk allowed.
    # Separators are mandatory between groups, so a digit run is split one way only (linear).
    r"(?P<intl>(?:(?<=\+)|(?<=0)0)[1-9][0-9]*"
    r"(?:(?:[ .\-/]|[ ]?\(0\)[ ]?)(?:\([0-9]+\)|[0-9]+)){0,8})"
    # North American: (212) 555-0199, 212-555-0199, 212.555.0199, 1-800-555-0199.
    r"|(?P<us>(?:(?<=1)[ .-](?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .-])"
    r"|(?<=\()[2-9][0-9]{2}\)[ ]?|(?<=[2-9])[0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4})"
    # UK / DE / FR national: trunk 0 + area code, then groups: 020 7946 0958, 07700 900123,
    # 030 12345678, 089/1234567, (0161) 496 0000, (0)20 7946 0958, 01 23 45 67 89.
    # Dots are left out: 05.01.2024 is a date.
    r"|(?P<national>(?:(?<=\()0[1-9][0-9]{1,4}\)[ ]?|(?<=\()0\)[ ]?[1-9][0-9]{1,4}[ /-]"
    r"|(?<=0)[1-9][0-9]{1,4}[ /-])[0-9]{2,8}(?:[ -][0-9]{2,8}){0,3})"
    # a local seven-digit number, 555-0199: exchange codes start 2-9, so 123-4567 is not one.
    # Dashed only: 524.9996 is a rate.
    r"|(?P<local>(?<=[2-9])[0-9]{2}-[0-9]{4})"
    r")(?![0-9A-Za-z_]|[.,/-][0-9])"
)
# -- context rules: the words before a value say what it is. Each pattern starts with its
# keyword and is only tried where str.find located one of the rule's keywords (see _RULES):
# a case-insensitive alternation scanned over the whole text costs more than all else here.
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|telephone|tel|mobile|cell(?:phone)?|call me|text me|reach me|whats ?app|"
    r"fax|landline|ph)\b\.?(?:\s{0,3}(?:number|no\.?|#|is|was|at|on|:|-)){0,3}\s{0,3}"
    r"(?P<v>\+?\(?[0-9](?:[ .()/-]{0,2}[0-9]){6,14})(?![0-9])",
    re.IGNORECASE,
)

_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|ss#|s\.s\.n\.?|social security(?: number| no\.?| #)?|social #|social sec #)"
    r"(?:\s{0,3}(?:number|no\.?|#|is|was|:|=|-)){0,3}\s{0,3}"
    r"(?P<v>[0-9]{3}[- .]?[0-9]{2}[- .]?[0-9]{4})(?![0-9])",
    re.IGNORECASE,
)

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DOB = re.compile(
    r"\b(?:d\.?o\.?b\b\.?|date of birth|birth ?date|birthday|born(?: on)?)"
    r"(?:\s{0,3}(?:is|was|as|of|on|:|-|=)){0,3}\s{0,3}(?P<v>"
    r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{2,4}"
    r"|[0-9]{1,2} [0-9]{1,2} [0-9]{4}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH}\.?,?\s[0-9]{{4}}"
    rf"|{_MONTH}\.?\s[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s[0-9]{{4}}"
    rf"|{_MONTH}\s[0-9]{{4}}"
    r")(?![0-9])",
    re.IGNORECASE,
)

_ACCOUNT = re.compile(
    r"\b(?:(?:account|acct|a/c)\.?(?:\s?(?:number|num|no|nbr|#|id)\.?)?"
    r"|(?:member(?:ship)?|customer|policy|loan|client) (?:number|no\.?|#|id))"
    r"(?:\s{0,3}(?:is|was|:|#|=|-)){0,3}\s{0,3}"
    r"(?P<v>[A-Za-z]{0,4}-?[0-9][0-9A-Za-z]{0,30}(?:[ -][0-9A-Za-z]{0,10}[0-9][0-9A-Za-z]{0,10})"
    r"{0,5})(?![\w])",
    re.IGNORECASE,
)

_PASSWORD = re.compile(
    r"\b(?P<k>pass(?:word|wd|code|phrase|\sword|\scode)|pwd|pin(?:\s?(?:code|number|no\.?))?)\b"
    r"(?P<c>(?:\s{0,3}(?:(?:is|was|to|set to|changed to|reset to|of)(?![\w])|[:=-])){0,2})"
    r"\s{0,3}"
    r"(?:(?P<q>[\"'“‘«])(?P<qv>[^\s\"'”’»]{1,64})[\"'”’»]|(?P<v>[^\s\"'“‘«][^\s]{0,63}))",
    re.IGNORECASE,
)
_PASSWORD_STOP = _words("""
    a an the and or but if of on in at to for from with by is was be been being are were will
    would should could can cannot can't did does do not no yes it its this that these those my
    your our their his her me i we you they reset resets change changed changes changing
    expired expires wrong incorrect invalid correct required request requested requests
    recovery manager field protected protection and/or updated update locked lock again too
    never always also just still then so as such which who when where what why how number
    numbers code codes twice once multiple several many every each all any some none new old
    same different more less via using used use user username login log sign into onto
    because since after before during until while issue issues problem problems error
    """)
_PLACEHOLDER = re.compile(r"\[[a-z]+\]")

# Three kinds of lead-in. "strong" says a name follows ("my name is", "name:"); "weak" only
# often does ("I am", "this is"), so a lone word there must end the clause ("I am John." but
# not "I am Male and …"); a sign-off ("Thanks,\nJane Doe") must end its line.
_NAME_TRIGGER = re.compile(
    r"(?P<strong>(?i:name(?:\s(?:is|was)|'s|’s)|name:|call me|named|signed,))\s{1,3}"
    r"|(?P<weak>(?:I am|I'm|I’m|(?i:this is))\b,?)\s{1,3}"
    r"|(?P<signoff>(?i:sincerely|regards|thanks|thank you|cheers|best|yours truly)),\s{0,3}"
)
_NAME_OWNER = re.compile(
    r"(?:my|his|her|their|your|full|legal|first|last|middle|maiden|real|given|family|"
    r"customer's|holder's|father's|mother's|husband's|wife's|son's|daughter's)\s$"
)
# "named" introduces a person only after a word for one ("a rep named …", not "a company
# named …" or "the above-named")
_NAMED_PERSON = re.compile(
    r"(?:rep|agent|representative|man|woman|lady|gentleman|guy|person|supervisor|manager|"
    r"employee|officer|someone|somebody|associate|advis[eo]r|specialist|caller|teller|banker|"
    r"broker|lawyer|attorney|individual|son|daughter|husband|wife|friend|sister|brother|"
    r"mother|father|boyfriend|girlfriend|partner|tenant|landlord)\s$"
)
_NAME_WORD = re.compile(r"[^\W\d_][\w'’.-]{0,40}")
_NAME_PARTICLES = frozenset({"de", "da", "del", "della", "di", "van", "von", "der", "den",
                             "la", "le", "bin", "ibn", "al", "el", "dos", "du", "ter"})
_NAME_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"})
# Capitalised words that follow "I am" / "this is" without being a name.
_NAME_STOP = _words("""
    i a an the not no so very just also still now here there writing filing contacting
    submitting requesting asking trying going being sure sorry glad happy unable able tired
    upset frustrated disappointed concerned writing currently really extremely totally
    disabled retired unemployed elderly senior veteran black white hispanic latino latina
    african asian american native indian mexican jewish muslim christian catholic a.m p.m
    male female single married divorced widowed pregnant case re regarding incorrect correct
    misspelled spelled listed changed removed used stolen missing different invalid valid
    unknown same never
    your my our his her their its this that these those what which who how why when where
    in on at for from with about of to by as and or but if it is was be
    bank chase wells fargo capital citi citibank discover equifax experian transunion
    navient synchrony comenity ocwen paypal amazon apple google microsoft verizon comcast
    sprint t-mobile nationstar freedom ditech sallie mae fedloan santander ally usaa best
    american express amex mastercard visa barclays hsbc td pnc suntrust regions
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december urgent important ridiculous
    unacceptable outrageous absurd insane crazy fraud theft identity illegal wrong ok okay
    xxxx xx customer service support team department company management
    """)

# -- street addresses: house number, capitalised street name, a street-type word; the unit,
# city, state and zip that follow go with it. Title-case is required on the name so that
# "3 times down the road" and shouted text ("1 LLC SUED MI IN COURT") stay text.
# the full stop after "St." is the abbreviation's, after "Street." the sentence's
_STREET_TYPE = (r"(?i:(?:street|avenue|road|boulevard|lane|drive|court|place|way|terrace|circle|"
                r"parkway|highway|square|trail|crescent|close|plaza|pike|alley|expressway|"
                r"freeway)\b|(?:st|ave|av|rd|blvd|ln|dr|ct|pl|ter|cir|pkwy|hwy|sq|trl)\b\.?)")
# what may follow the street: direction, unit, then city with a US state and zip or a UK postcode
_ADDRESS_TAIL = (
    r"(?:\s(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    r"(?:,?\s(?i:apt|apartment|suite|ste|unit|fl|floor|rm|room|#)\.?\s?#?[A-Za-z0-9-]{1,8}\b)?"
    r"(?:,\s[A-Z][a-z][\w'’.-]{0,30}(?:\s[A-Z][a-z][\w'’.-]{0,30}){0,2}"
    r"(?:,?\s[A-Z]{2}\s[0-9]{5}(?:-[0-9]{4})?"
    r"|\s[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2})?)?"
)
_STREET_WORD = r"(?:[A-Z][a-z'’][\w'’.-]{0,30}|[0-9]{1,3}(?:st|nd|rd|th))"
_ADDRESS = re.compile(
    r"[0-9](?<![\w#$€£.,/:-][0-9])[0-9]{0,5}[A-Za-z]?(?:-[0-9]{1,4})?\s{1,2}"
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s)?"
    rf"{_STREET_WORD}(?:\s{_STREET_WORD}){{0,3}}\s{_STREET_TYPE}{_ADDRESS_TAIL}"
)
_PO_BOX = re.compile(r"\b(?:p\.?\s?o\.?\s?|post office )box\s{0,2}#?\s?[0-9]{1,8}\b",
                     re.IGNORECASE)
# German: Hauptstraße 12, Musterstr. 5a, Lindenweg 3, optionally "10115 Berlin"
_ADDRESS_DE = re.compile(
    r"[A-ZÄÖÜ](?<![\w][A-ZÄÖÜ])[a-zäöüß]{1,30}(?:straße|strasse|str\.|weg|gasse|allee|platz)"
    r"\s[0-9]{1,4}[a-z]?\b(?:,\s[0-9]{5}\s[A-ZÄÖÜ][a-zäöüß]+)?"
)
_ADDRESS_CONTEXT = re.compile(
    r"\b(?:live[sd]? (?:at|on)|resid(?:e|ing) at|(?:home |mailing )?address(?: is|:)|"
    r"moved to|ship(?:ped)? to|mail(?:ed)? to|sent to)"
    r"\s{1,3}(?P<v>[0-9]{1,6}[A-Za-z]?\s[\w'’.-]{1,30}(?:\s[\w'’.-]{1,30}){0,3}\s"
    rf"{_STREET_TYPE}(?-i:{_ADDRESS_TAIL}))",
    re.IGNORECASE,
)

_DIGIT = re.compile(r"[0-9]")

_Span = tuple[int, int, str]
_Handler = Callable[[re.Match[str]], "list[_Span] | None"]


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


def _card(m: re.Match[str]) -> list[_Span] | None:
    s = m.group()
    parts = _CARD_SEP.split(s)  # groups at even indexes, their separators at odd ones
    groups = parts[::2]
    if _is_card(groups):
        return [(m.start(), m.end(), "card")]
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
        return None
    _, start, stop = best
    lo = m.start() + len("".join(parts[: 2 * start]))
    hi = lo + len("".join(parts[2 * start: 2 * stop - 1]))
    return [(lo, hi, "card")]


def _iban_ok(candidate: str) -> bool:
    rearranged = candidate[4:] + candidate[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _iban(m: re.Match[str]) -> list[_Span] | None:
    s = m.string[m.start() - 2: m.end()]
    length = _IBAN_LENGTHS.get(s[:2].upper())
    if length is None:
        return None
    # walk the match until `length` alphanumerics are consumed; the rest is not the IBAN's
    seen = 0
    end = len(s)
    for i, ch in enumerate(s):
        if ch not in " -":
            seen += 1
            if seen == length:
                end = i + 1
                break
    if seen < length:
        return None
    if s[end:end + 1].isalnum():
        return None  # the run continues past the IBAN's length: some other code, not an IBAN
    body = s[:end].replace(" ", "").replace("-", "")
    # a lowercase IBAN is all lowercase; "Ab12…" inside a sentence is some product code
    if not (body.isupper() or body.islower() or body[:2].isupper()) or not _iban_ok(
        body.upper()
    ):
        return None
    return [(m.start() - 2, m.start() - 2 + end, "iban")]


def _email(m: re.Match[str]) -> list[_Span] | None:
    # the CFPB already masked it ("XXXX@XXXX.com"): leave its mask alone
    local = m.group().partition("@")[0].strip()
    return None if _MASK_LOCAL.fullmatch(local) else [(m.start(), m.end(), "email")]


_BARE_AT = re.compile(r"\s+at\s+(\w+)", re.IGNORECASE)
_NOT_A_DOMAIN = _words("""
    this that the a an my your our his her their its home work least all once first last
    night noon which what some any one times
    """)


def _email_spelled(m: re.Match[str]) -> list[_Span] | None:
    bare = _BARE_AT.search(m.group())
    if bare is not None and "@" not in m.group() and bare.group(1).lower() in _NOT_A_DOMAIN:
        return None  # "look at this dot com bubble" is prose
    return _email(m)


def _intl_phone_ok(s: str) -> bool:
    body = s[1:] if s[0] == "+" else s[2:]
    digits = "".join(ch for ch in body.replace("(0)", "") if ch.isdigit())
    if not 7 <= len(digits) <= 15:  # E.164 allows at most 15 digits
        return False
    if s[0] == "0" and body.isdigit():
        return False  # "0049…" unbroken is as likely an order number
    try:
        # libphonenumber knows every country code and its number lengths
        return phonenumbers.is_possible_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


def _phone(m: re.Match[str]) -> list[_Span] | None:
    s = m.group()
    if m.group("intl") is not None:
        ok = _intl_phone_ok(s)
    elif m.group("national") is not None:
        n = sum(ch.isdigit() for ch in s)
        ok = 10 <= n <= 12
    else:
        ok = True
    return [(m.start(), m.end(), "phone")] if ok else None


def _ip(m: re.Match[str]) -> list[_Span] | None:
    octets = m.group().split(".")
    if all(int(o) <= 255 and (o == "0" or o[0] != "0") for o in octets):
        return [(m.start(), m.end(), "ip")]
    return None


def _ip6(m: re.Match[str]) -> list[_Span] | None:
    s = m.group()
    end = m.end()
    while s.endswith(":") and not s.endswith("::"):
        s = s[:-1]  # "at 2001:db8::1: it failed" — the colon is the sentence's
        end -= 1
    if s.count(":") < 2 or not any(c not in ":" for c in s):
        return None
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return None
    return [(m.start(), end, "ip")]


def _group(label: str) -> _Handler:
    def handler(m: re.Match[str]) -> list[_Span] | None:
        return [(m.start("v"), m.end("v"), label)]

    return handler


def _address(m: re.Match[str]) -> list[_Span] | None:
    return [(m.start(), m.end(), "address")]


def _phone_context(m: re.Match[str]) -> list[_Span] | None:
    n = sum(ch.isdigit() for ch in m.group("v"))
    return [(m.start("v"), m.end("v"), "phone")] if 7 <= n <= 15 else None


def _account(m: re.Match[str]) -> list[_Span] | None:
    v = m.group("v")
    # a CFPB mask keeps the last four ("XXXX1234"); five or more digits are the number itself
    if sum(ch.isdigit() for ch in v) < 5:
        return None
    return [(m.start("v"), m.end("v"), "account")]


def _password(m: re.Match[str]) -> list[_Span] | None:
    key = m.group("k").lower()
    quoted = m.group("qv")
    v = quoted if quoted is not None else m.group("v")
    start = m.start("qv") if quoted is not None else m.start("v")
    if _PLACEHOLDER.match(v):
        return None  # already redacted: "password: [password]."
    if quoted is None:
        v = v.rstrip(".,;:)]}>")
    if (len(v) < 3 or start == m.end("k") or _FILL in v
            or not any(c.isalnum() for c in v)):
        return None
    if key.startswith("pin"):
        if not (v.isdigit() and 4 <= len(v) <= 8):
            return None
    elif quoted is None:
        strong = any(c in m.group("c") for c in ":=")
        plain = v.isalpha() and v[1:].islower()
        if v.lower() in _PASSWORD_STOP or (plain and not strong):
            return None
    return [(start, start + len(v), "password")]


_WEAK_END = re.compile(r"[,.!;:)]|\s*$|\s*\n|\s(?:from|here|speaking|calling|again)\b")
_LINE_END = re.compile(r"[.!]?[ \t]*(?:\n|$)")


def _not_a_name(low: str) -> bool:
    # "I am Constantly Harassed", "I'm Demanding …": verb and adverb endings that names
    # (Emily, Beverly, Ahmed) rarely have
    return low.endswith(("ing", "ated", "ssed", "ized", "ised")) or (
        len(low) >= 8 and low.endswith("ly"))


def _name(m: re.Match[str], text: str, lower: str) -> list[_Span] | None:
    kind = m.lastgroup
    lead = lower[m.start("strong"): m.end("strong")] if kind == "strong" else ""
    if lead == "named":
        if not _NAMED_PERSON.search(lower, max(0, m.start() - 20), m.start()):
            return None
    elif lead.startswith("name") and lead != "name:" and not _NAME_OWNER.search(
        lower, max(0, m.start() - 20), m.start()
    ):
        return None  # "the name is on the card" names nobody
    pos = m.end()
    first = last = -1
    words = 0
    while words < 5:
        w = _NAME_WORD.match(text, pos)
        if w is None:
            break
        word = w.group()
        bare = word.rstrip(".")
        low = bare.lower()
        if low in _NAME_TITLES and first < 0:
            first = w.start()
        elif low in _NAME_PARTICLES and last >= 0:
            pass
        elif bare[:1].isupper() and (bare[1:2].islower() or bare[1:2] in "'’"
                                     or (kind == "strong" and bare.isupper() and len(bare) > 1
                                         and not _MASK_LOCAL.fullmatch(bare))):
            if last < 0 and (low in _NAME_STOP or (kind == "weak" and _not_a_name(low))):
                break
            if first < 0:
                first = w.start()
            last = w.start() + len(bare)
        else:
            break
        words += 1
        if word.endswith(".") and low not in _NAME_TITLES:
            break  # a full stop ends the sentence, and with it the name
        if text[w.end(): w.end() + 1] != " ":
            break
        pos = w.end() + 1
    if last < 0:
        return None
    if kind == "weak" and " " not in text[first:last] and not _WEAK_END.match(text, last):
        return None
    if kind == "signoff" and not (
        _LINE_END.match(text, last)
        and ("\n" in text[m.end("signoff"): first]
             or not text[text.rfind("\n", 0, m.start()) + 1: m.start()].strip())
    ):
        return None  # "… removed. Thanks, Fair Resolution!" thanks nobody by name
    return [(first, last, "name")]


# Rules in order, each (pattern, handler, keywords, needs a number of seven or more digits).
# A rule with keywords is tried only where one of them occurs in the lower-cased text; a rule
# without runs over the whole text. Cards, IBANs, SSNs and phones all hold a run of 7+ digits
# (separators allowed): one scan for such a run spares four scans on most complaints.
_Rule = tuple[re.Pattern[str], _Handler, tuple[str, ...], bool]

_DIGIT_RULES: tuple[_Rule, ...] = (
    (_IBAN, _iban, (), True),
    (_CARD, _card, (), True),
    (_SSN, lambda m: [(m.start(), m.end(), "ssn")], (), True),
    (_SSN_CONTEXT, _group("ssn"), ("ssn", "ss#", "s.s.n", "social"), True),
    (_IP, _ip, (), False),
    (_DOB, _group("dob"), ("dob", "d.o.b", "date of birth", "birth", "born"), False),
    (_PASSWORD, _password, ("pass", "pwd", "pin"), False),
    (_ACCOUNT, _account, ("account", "acct", "a/c") + tuple(
        f"{who} {what}" for who in ("member", "membership", "customer", "policy", "loan", "client")
        for what in ("number", "no", "#", "id")), False),
    (_PHONE_CONTEXT, _phone_context, ("phone", "tel ", "tel:", "tel.", "mobile", "cell",
                                      "call me", "text me", "reach me", "whats", "fax",
                                      "landline", "ph:", "ph.", "ph #"), True),
    (_PHONE, _phone, (), True),
    (_ADDRESS_CONTEXT, _group("address"), (
        "live at", "lives at", "lived at", "live on", "lives on", "lived on", "reside at",
        "residing at", "address is", "address:", "moved to", "ship to", "shipped to", "mail to",
        "mailed to", "sent to"), False),
    (_ADDRESS, _address, (), False),
    (_PO_BOX, _address, ("po box", "p.o", "p. o", "p o box", "pobox", "post office box"), False),
)
_LONG_NUMBER = re.compile(r"[0-9](?:[ ./()-]{0,3}[0-9]){6}")
_NAME_KEYS = ("name is", "name was", "name's", "name’s", "name:", "call me", "named", "signed,",
              "i am", "i'm", "i’m", "this is", "sincerely,", "regards,", "thanks,",
              "thank you,", "cheers,", "best,", "yours truly,")


_NAME_RULE = len(_DIGIT_RULES)
_PASSWORD_RULE = next(i for i, rule in enumerate(_DIGIT_RULES) if rule[0] is _PASSWORD)


def _keyword_table() -> tuple[re.Pattern[str], dict[str, tuple[int, ...]]]:
    # One scan of the lower-cased text finds every rule's keywords at once; a keyword that
    # starts with another rule's keyword ("phone" and "ph") serves both rules.
    owners: list[tuple[int, tuple[str, ...]]] = [
        (i, rule[2]) for i, rule in enumerate(_DIGIT_RULES) if rule[2]
    ] + [(_NAME_RULE, _NAME_KEYS)]
    words = {k for _, keys in owners for k in keys}
    table = {w: tuple(i for i, keys in owners if any(w.startswith(k) for k in keys))
             for w in words}
    return re.compile(_trie(words)), table


_Trie = dict[str, "_Trie"]


def _trie(words: set[str]) -> str:
    # a trie-shaped pattern tries one branch per position, where "a|b|c…" would try them all
    root: _Trie = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


_KEYWORDS, _KEYWORD_RULES = _keyword_table()


def _keyword_positions(lower: str) -> dict[int, list[int]]:
    where: dict[int, list[int]] = {}
    for m in _KEYWORDS.finditer(lower):
        for rule in _KEYWORD_RULES[m.group()]:
            where.setdefault(rule, []).append(m.start())
    return where


def _matches(pattern: re.Pattern[str], norm: str,
             positions: list[int] | None, start: int = 0) -> list[re.Match[str]]:
    if positions is None:
        # look-behinds and \b still see the text before `start`
        return list(pattern.finditer(norm, start))
    out: list[re.Match[str]] = []
    done = 0
    for pos in positions:
        if pos < done:
            continue
        m = pattern.match(norm, pos)
        if m is not None:
            out.append(m)
            done = m.end()
    return out


def _apply(pattern: re.Pattern[str], handler: _Handler, norm: str,
           positions: list[int] | None, spans: list[_Span], start: int = 0) -> str:
    found: list[_Span] = []
    for m in _matches(pattern, norm, positions, start):
        got = handler(m)
        if got:
            found.extend(got)
    if not found:
        return norm
    spans.extend(found)
    parts: list[str] = []
    prev = 0
    for start, end, _ in found:
        parts.append(norm[prev:start])
        parts.append(_FILL * (end - start))
        prev = end
    parts.append(norm[prev:])
    return "".join(parts)


def _token(m: re.Match[str]) -> list[_Span] | None:
    return [(m.start(), m.end(), "token")]


class _Lower(dict[int, str]):
    """Lower-casing that never changes the length ("İ".lower() has two characters)."""

    def __missing__(self, cp: int) -> str:
        low = chr(cp).lower()
        out = low if len(low) == 1 else chr(cp)
        if len(self) < 100_000:
            self[cp] = out
        return out


_LOWER = _Lower()


def _spans(text: str) -> list[_Span]:
    norm = text if text.isascii() else text.translate(_FOLD)
    lower = norm.lower()
    if len(lower) != len(norm):
        lower = norm.translate(_LOWER)
    spans: list[_Span] = []
    if "xox" in norm or "xapp-" in norm or "sk-" in norm or "_" in norm or "AKIA" in norm:
        norm = _apply(_TOKEN, _token, norm, None, spans)
    if "earer" in lower:
        norm = _apply(_BEARER, _group("token"), norm, None, spans)
    if "@" in norm:
        norm = _apply(_EMAIL, _email, norm, None, spans)
    if "at" in lower and (" dot " in lower or (
            ("(" in norm or "[" in norm or "{" in norm or "<" in norm)
            and _SPELLED_HINT.search(norm) is not None)):
        norm = _apply(_EMAIL_SPELLED, _email_spelled, norm, None, spans)
    if norm.count(":") >= 2:
        norm = _apply(_IP6, _ip6, norm, None, spans)
    where = _keyword_positions(lower)
    digit = _DIGIT.search(norm)
    if digit is not None:
        # Every rule scanned over the whole text matches a digit, or "+" or "(" just before
        # one, at its first character; masking only removes digits. The scans start there.
        first = max(0, digit.start() - 1)
        long_number = _LONG_NUMBER.search(norm, first) is not None
        for i, (pattern, handler, keywords, needs_long) in enumerate(_DIGIT_RULES):
            if needs_long and not long_number:
                continue
            if not keywords:
                norm = _apply(pattern, handler, norm, None, spans, first)
            elif i in where:
                norm = _apply(pattern, handler, norm, where[i], spans)
        # the pattern's street suffixes are lower-case literals: without one it cannot match
        if "str" in norm and ("stra" in norm or "str." in norm) or "weg" in norm or (
                "gasse" in norm or "allee" in norm or "platz" in norm):
            norm = _apply(_ADDRESS_DE, _address, norm, None, spans)
    elif _PASSWORD_RULE in where:  # a password needs no digit
        norm = _apply(_PASSWORD, _password, norm, where[_PASSWORD_RULE], spans)
    if _NAME_RULE in where:
        for m in _matches(_NAME_TRIGGER, norm, where[_NAME_RULE]):
            got = _name(m, norm, lower)
            if got:
                spans.extend(got)
    return spans


def redact(text: str) -> str:
    """Replace personal data and secrets in `text` with typed placeholders like `[email]`."""
    if not text:
        return text
    spans = _spans(text)
    if not spans:
        return text
    spans.sort()
    parts: list[str] = []
    prev = 0
    for start, end, label in spans:
        if start < prev:
            continue  # names are found last, on text no other rule claimed; never overlap twice
        parts.append(text[prev:start])
        parts.append(f"[{label}]")
        prev = end
    parts.append(text[prev:])
    return "".join(parts)


def redact_all(texts: list[str]) -> list[str]:
    """`redact` over a list: one call per batch for a worker process."""
    return [redact(text) for text in texts]


def serve_pipe() -> None:
    """A redaction worker for a large import: pickled lists of texts in on stdin, their
    redactions out on stdout, until end of file. Only the importer's own process feeds it."""
    import pickle
    import sys

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            texts = pickle.load(source)
        except EOFError:
            return
        try:
            pickle.dump(redact_all(texts), sink, protocol=pickle.HIGHEST_PROTOCOL)
            sink.flush()
        except BrokenPipeError:  # the importer stopped early and closed its end
            return


def contains_pii(text: str) -> bool:
    """True when `redact` would change `text`."""
    return redact(text) != text
