"""privtrack's errors: one ``privtrack.Error`` subclass per library code.

Every error carries the library's ``code`` (a negative ``pt_error``), its
symbolic ``name`` (``"PT_EPOLICY"``) and the library's detail ``message``
(what and where: ``file:line`` for a policy, the HTTP status and DynamoDB
error type for the backend, the errno text for I/O).  Like the library's,
these messages never hold a raw client address, a key or an AWS secret.
"""


class Error(Exception):
    """A privtrack library error: ``code``, ``name`` and ``message``."""

    code = None
    name = None

    def __init__(self, message, code=None, name=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name

    def __str__(self):
        return self.message


class PolicyError(Error):
    """An invalid policy.  ``file`` and ``line`` locate the first problem
    (``line`` is 0 when it is not tied to a line); ``problems`` lists every
    problem as ``(file, line, message)``, as ``privtrack policy check``
    reports them."""

    def __init__(self, message, code=None, name=None, problems=()):
        super().__init__(message, code, name)
        self.problems = list(problems)
        first = self.problems[0] if self.problems else (None, 0, message)
        self.file, self.line = first[0], first[1]


# One class per code of PT_ERRNO_MAP (include/privtrack.h); codes are only
# ever appended there, so an unknown code is a plain Error.
_TABLE = [
    (-1, "PT_EINVAL", "InvalidArgumentError"),
    (-2, "PT_ENOMEM", "OutOfMemoryError"),
    (-3, "PT_EPOLICY", None),  # PolicyError, above
    (-4, "PT_EIO", "StorageIOError"),
    (-5, "PT_ENOTFOUND", "NotFoundError"),
    (-6, "PT_EBACKEND", "BackendError"),
    (-7, "PT_ECREDENTIALS", "CredentialsError"),
    (-8, "PT_ENETWORK", "NetworkError"),
    (-9, "PT_ETIMEDOUT", "TimedOutError"),
    (-10, "PT_EQUEUEFULL", "QueueFullError"),
    (-11, "PT_ECORRUPT", "CorruptDataError"),
    (-12, "PT_EUNSUPPORTED", "UnsupportedError"),
    (-13, "PT_ECRYPTO", "CryptoError"),
    (-14, "PT_EPARSE", "ParseError"),
    (-15, "PT_ETHROTTLED", "ThrottledError"),
    (-16, "PT_EACCESS", "AccessDeniedError"),
    (-17, "PT_EEXIST", "ExistsError"),
    (-18, "PT_ECLOSED", "ClosedError"),
    (-19, "PT_ENOSPACE", "NoSpaceError"),
]

_BY_CODE = {}
PolicyError.code, PolicyError.name = -3, "PT_EPOLICY"
for _code, _name, _cls in _TABLE:
    if _cls is None:
        _BY_CODE[_code] = PolicyError
        continue
    _klass = type(_cls, (Error,), {"code": _code, "name": _name,
                                   "__module__": __name__,
                                   "__doc__": "privtrack %s." % _name})
    globals()[_cls] = _klass
    _BY_CODE[_code] = _klass
del _code, _name, _cls, _klass

__all__ = ["Error", "PolicyError"] + [c for _, _, c in _TABLE if c]


def error_class(code):
    """The Error subclass for a library code."""
    return _BY_CODE.get(code, Error)
