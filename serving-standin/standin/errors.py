"""TF Serving's error codes and the stand-in's two exceptions: an error a request gets, and a reason
the server does not start."""

# google.rpc.Code names by number, and the HTTP status TF Serving answers each with
# (`ToHTTPStatusCode` in http_server.cc).
CODES = [
    ("OK", 200), ("CANCELLED", 499), ("UNKNOWN", 500), ("INVALID_ARGUMENT", 400),
    ("DEADLINE_EXCEEDED", 504), ("NOT_FOUND", 404), ("ALREADY_EXISTS", 409),
    ("PERMISSION_DENIED", 403), ("RESOURCE_EXHAUSTED", 429), ("FAILED_PRECONDITION", 400),
    ("ABORTED", 409), ("OUT_OF_RANGE", 400), ("UNIMPLEMENTED", 501), ("INTERNAL", 500),
    ("UNAVAILABLE", 503), ("DATA_LOSS", 500), ("UNAUTHENTICATED", 401),
]
CODE_NAMES = [name for name, _ in CODES]


def code_name(number):
    """The name of a google.rpc.Code number; UNKNOWN for OK and numbers out of range, since an
    error never carries OK."""
    return CODE_NAMES[number] if 0 < number < len(CODES) else "UNKNOWN"


class ServingError(Exception):
    """An error TF Serving would return for a request: a canonical code name and a message. REST
    answers it with the code's HTTP status, gRPC with the code itself."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.status = dict(CODES)[code]
        self.message = message


class StartError(Exception):
    """Why the server does not start; `main` prints it as TF Serving does and exits 255."""
