"""The one exception tree of the eval engine.

::

    EvalError                       root; never raised bare
    ├── ProviderError               a provider gave no response: the row is an ERROR
    │   ├── ProviderConfigError     a provider id or config is unusable (found when loading)
    │   ├── ProviderHTTPError       the endpoint answered non-2xx after retries (providers._http)
    │   └── ProviderTimeout         the call missed its deadline (providers._http)
    ├── AssertionError_             an assertion *threw*: the row is an ERROR
    │   └── JavascriptUnavailable   no Node.js to run inline JavaScript (also a JavascriptError)
    ├── JavascriptError             the JavaScript boundary (``evals.js``) failed
    │   ├── JavascriptTimeout       a call ran past its timeout; the worker was restarted
    │   └── JavascriptUnavailable
    ├── PythonWorkerError           the Python boundary (``evals.pyworker``) failed
    │   └── PythonTimeout           a call ran past its timeout; its worker was killed
    ├── TemplateError               a Nunjucks template did not parse or render: an ERROR row
    ├── TransformError              a ``transform`` hook could not run or raised: an ERROR row
    ├── ScriptError                 a ``file://x.py`` script failed to import or raised
    ├── ExpressionError             a mathjs ``derivedMetrics`` formula is invalid (a ValueError)
    └── JsRegexError                not a valid JavaScript RegExp: the assertion FAILS (a ValueError)

Why a separate root from :class:`promptgov.errors.PromptGovError`: nothing here leaves
:func:`promptgov.evals.run_eval`. Every engine error becomes a result row (ERROR or FAIL, as
promptfoo decides), and configuration problems found while loading or starting a run leave as
:class:`promptgov.errors.InvalidFile`, which the CLI maps to promptfoo's exit 1. Keeping the
two trees apart means a ``except PromptGovError`` in a governance action (rollback re-running
evals, verify) cannot swallow an engine bug, and the exit-code contract stays where it was.
"""

from __future__ import annotations

__all__ = [
    "AssertionError_",
    "EvalError",
    "ExpressionError",
    "JavascriptError",
    "JavascriptTimeout",
    "JavascriptUnavailable",
    "JsRegexError",
    "ProviderConfigError",
    "ProviderError",
    "PythonTimeout",
    "PythonWorkerError",
    "ScriptError",
    "TemplateError",
    "TransformError",
]


class EvalError(Exception):
    """Root of every error the eval engine raises on purpose."""


class ProviderError(EvalError):
    """A provider could not produce a response (network, protocol, timeout, bad config).

    The runner turns it into an ERROR result (``failureReason`` 2), as promptfoo does.
    """


class ProviderConfigError(ProviderError):
    """A provider id or its config is invalid: a configuration error (exit 1), not a test error."""


class AssertionError_(EvalError):
    """An assertion *threw* (bad value, missing cost, Nunjucks error): the result is an ERROR.

    Distinct from a failed assertion, which returns ``GradingResult(passed=False)``.
    """


class JavascriptError(EvalError):
    """Inline JavaScript could not be run to an answer (the worker broke or timed out)."""


class JavascriptTimeout(JavascriptError):
    """A JavaScript call ran past its timeout; the worker was killed and will be restarted."""


class JavascriptUnavailable(JavascriptError, AssertionError_):
    """No Node.js: inline JavaScript cannot run (a javascript assertion's row is an ERROR)."""


class PythonWorkerError(EvalError):
    """User Python could not be run to an answer: its worker could not start, or died."""


class PythonTimeout(PythonWorkerError):
    """A call of user Python ran past its timeout; its worker was killed (the row is an ERROR)."""


class TemplateError(EvalError):
    """A template could not be parsed or rendered (promptfoo: a Nunjucks error, an ERROR row)."""


class TransformError(EvalError):
    """A ``transform`` hook could not run or raised (the row is an ERROR)."""


class ScriptError(EvalError):
    """A script could not be imported, lacks the function, or the function raised."""


class ExpressionError(EvalError, ValueError):
    """A mathjs formula does not parse, or names something that does not exist."""


class JsRegexError(EvalError, ValueError):
    """The pattern is not a valid JavaScript regular expression (promptfoo: the assertion fails)."""
