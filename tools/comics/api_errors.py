"""What a failed image call means, said so the person can act: which limit, which setting,
which page to visit. The key never appears (``ApiAccess.scrub``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from photocomic.tools.comics.image_models import retirement_notice
from photocomic.tools.errors import (
    AccessDenied,
    AuthFailed,
    BadResponse,
    ContentRefused,
    GenerationError,
    GenerationTimeout,
    ModelNotFound,
    ModelRetired,
    RateLimited,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import openai
    from photocomic.tools.comics.image_api import ApiAccess

VERIFY_URL = "https://platform.openai.com/settings/organization/general"
BILLING_URL = "https://platform.openai.com/settings/organization/billing"


def translate(
    exc: openai.OpenAIError, model: str, access: ApiAccess, timeout: float, retries: int
) -> GenerationError:
    """A message per failure that says what happened and what the user can do."""
    import openai  # on first use: an engine that never draws starts 0.6 s sooner

    attempts = retries + 1
    tries = f"{attempts} attempt{'s' * (attempts > 1)}"
    if isinstance(exc, openai.APITimeoutError):
        return GenerationTimeout(
            f"the image model did not answer within {timeout:g} s ({tries}). Drawing "
            "can take one to two minutes, more for large or high-quality images; raise the "
            "limit with PHOTOCOMIC_IMAGE_TIMEOUT (seconds, e.g. PHOTOCOMIC_IMAGE_TIMEOUT=300)"
            " or ask for quality='low'."
        )
    if isinstance(exc, openai.APIConnectionError):
        return ServiceUnavailable(
            f"could not reach the image API at {access.shown_url()} ({tries}): "
            f"{access.scrub(str(exc))}. Check the network and OPENAI_BASE_URL, or use "
            "backend='storyboard' offline."
        )
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, model, tries, access)
    if isinstance(exc, openai.APIResponseValidationError):
        return BadResponse(
            f"the image API at {access.shown_url()} answered in an unexpected shape; "
            "check OPENAI_BASE_URL points at an OpenAI-compatible Images API."
        )
    return GenerationError(f"the image call failed: {access.scrub(str(exc))}")


def _status_error(
    exc: openai.APIStatusError, model: str, tries: str, access: ApiAccess
) -> GenerationError:
    status, code = exc.status_code, (exc.code or "").lower()
    said = _server_message(exc, access)
    told = f" The server said: {said}" if said else ""
    lowered = said.lower()
    if status == 401:
        return AuthFailed(
            "the image API refused the key in OPENAI_API_KEY (401 Unauthorized). Check "
            "that it is a current key for this project and server (OPENAI_BASE_URL)." + told
        )
    if status == 403:
        if "gif" in lowered or "gif" in code:
            return AccessDenied(
                f"this API key has no access to GIF output from {model}: GIF is a preview "
                "OpenAI grants per organisation (403). Nothing was drawn, saved or charged. "
                "Draw a still comic instead ([[still_comic]]), or ask OpenAI for access to the "
                "GIF preview."
            )
        if "verif" in lowered or "verif" in code:
            return AccessDenied(
                f"your OpenAI organization must be verified before it can use {model} "
                f"(403). Verify it at {VERIFY_URL} (access can take up to 15 minutes to "
                "arrive), or choose another model with [[pick_model]]."
            )
        return AccessDenied(
            f"the key in OPENAI_API_KEY may not use {model} (403 Forbidden). Check the "
            f"project's model permissions at {VERIFY_URL}, or choose another model with "
            "[[pick_model]]." + told
        )
    if _is_model_problem(status, code, lowered):
        return _model_error(model, status, told, lowered, access)
    if status == 400 and (
        any(word in code for word in ("moderation", "safety", "content_policy"))
        or "safety system" in lowered
    ):
        return refusal(code)
    if status == 429:
        if code == "insufficient_quota" or "quota" in lowered:
            return RateLimited(
                f"the OpenAI account is out of credit (429 insufficient_quota). Add credit "
                f"at {BILLING_URL}, or use backend='storyboard' for now."
            )
        return RateLimited(
            f"the image API is still rate limiting this key (429) after {tries} with "
            "backoff. Wait a minute and try again, or raise PHOTOCOMIC_IMAGE_RETRIES."
        )
    if status >= 500:
        return ServiceUnavailable(
            f"the image API failed with HTTP {status} on all {tries}; the service is "
            "having trouble. Try again in a few minutes." + told
        )
    return GenerationError(
        f"the image API rejected the request for {model} (HTTP {status}"
        + (f", {code}" if code else "")
        + ")."
        + told
    )


def _model_error(
    model: str, status: int, told: str, said: str, access: ApiAccess
) -> GenerationError:
    notice = retirement_notice(model)
    if notice is not None or any(w in said for w in ("shut down", "deprecat", "retired")):
        return ModelRetired(
            f"the image API says {model} is no longer available (HTTP {status}). "
            + (notice + " " if notice else "")
            + "Use [[auto_model]]."
            + told
        )
    return ModelNotFound(
        f"the image API at {access.shown_url()} does not know the model {model!r} "
        f"(HTTP {status}): check the name given with [[pick_model]], or use [[auto_model]]; "
        "an OpenAI-compatible server other than OpenAI's may name its models otherwise." + told
    )


def _server_message(exc: openai.APIStatusError, access: ApiAccess) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else body
    text = message if isinstance(message, str) else ""
    return access.scrub(" ".join(text.split()))[:300]


def refusal(code: str) -> ContentRefused:
    return ContentRefused(
        "the image model refused this request under its content policy "
        f"({code or 'moderation'}): the prompt or one of the reference photos was flagged. "
        "Rephrase the prompt (plainer wording, no real people's names, nothing violent or "
        "explicit) or choose other photos; nothing was saved."
    )


def _is_model_problem(status: int, code: str, said: str) -> bool:
    if code in ("model_not_found", "model_deprecated", "model_shut_down"):
        return True
    return (
        status in (400, 404)
        and "model" in said
        and any(
            w in said for w in ("not found", "does not exist", "shut down", "deprecat", "retired")
        )
    )
