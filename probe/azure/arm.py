"""Azure Resource Manager reads through azure-mgmt-core (the `azure` extra).

``Arm`` wraps one ``ARMPipelineClient`` built from explicit policies:
azure-core's retry (429 and 5xx with ``Retry-After`` honoured, dropped
connections), the ARM bearer-token policy over a credential from
``probe.azure.credential``, a guard that sends nothing (and so no token) to a
host other than the ARM endpoint's (a ``nextLink`` or an LRO ``Location``
pointing elsewhere is refused), and a counter of the requests sent. It does
not include azure-mgmt-core's resource-provider auto-registration: a reader
never registers providers.

Every failure is an ``ArmError`` naming the call, a short code (the HTTP
status, or ``token``, ``connection``, ``timeout``, ``shape``, ``host``) and
ARM's own error code and message; none carries a token: the messages are
built here from the status and ARM's error body, never from the request.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from probe import __version__
from probe.boundary import load_json
from probe.display import printable
from probe.errors import InputError, ProbeError

__all__ = ["ANSWER_LIMIT", "Arm", "ArmError"]

ANSWER_LIMIT = 8 << 20  # bytes: APIM's outbound list is ~100 KiB, a VNet far less


class ArmError(ProbeError):
    """One ARM call failed; ``code`` is the metric's label, ``arm_code`` ARM's own."""

    def __init__(self, call: str, code: str, message: str, *, status: int | None = None,
                 arm_code: str = "") -> None:
        super().__init__(f"{call}: {message}")
        self.call, self.code, self.status, self.arm_code = call, code, status, arm_code
        self.detail = message


def _arm_error(call: str, status: int, body: bytes) -> ArmError:
    """ARM's ``{"error": {"code", "message"}}`` body, when it is one."""
    arm_code, message = "", ""
    try:
        doc = load_json(body[:65536], call, expected="ARM's error body")
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict):
            arm_code = str(error.get("code") or "")
            message = str(error.get("message") or "")
    except InputError:
        pass
    text = f"HTTP {status}" + (f" {arm_code}" if arm_code else "") + (
        f": {printable(message)[:300]}" if message else "")
    return ArmError(call, str(status), text, status=status, arm_code=arm_code)


class Arm:
    """ARM at ``base`` (scheme and host), authenticated by ``credential``."""

    def __init__(self, base: str, credential: Any, *, ca_file: str | None = None,
                 timeout: float = 10.0, retries: int = 3, lro_delay: float = 0.5) -> None:
        from azure.core.pipeline import policies
        from azure.core.pipeline.transport import RequestsTransport
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        self.base = base.rstrip("/")
        self.host = urllib.parse.urlsplit(self.base).netloc.lower()
        self.requests = 0  # sent, retries and polls included (reads run side by side)
        self.lock = threading.Lock()
        self.lro_delay = lro_delay
        self.timeout = timeout
        counter = self

        class _Guard(policies.SansIOHTTPPolicy):  # type: ignore[type-arg]
            def on_request(self, request: Any) -> None:
                host = urllib.parse.urlsplit(request.http_request.url).netloc.lower()
                if host != counter.host:
                    raise ArmError("request", "host", f"refused to send a request to {host!r}: "
                                   f"not the ARM endpoint {counter.host!r}")
                with counter.lock:
                    counter.requests += 1

        transport = RequestsTransport(connection_verify=ca_file or True,
                                      connection_timeout=timeout, read_timeout=timeout)
        self.client: Any = ARMPipelineClient(base_url=self.base, transport=transport, policies=[
            policies.RequestIdPolicy(),
            policies.HeadersPolicy({"Accept": "application/json"}),
            policies.UserAgentPolicy(f"apim-probe/{__version__}"),
            policies.RetryPolicy(retry_total=retries, retry_backoff_factor=0.5,
                                 retry_backoff_max=30, timeout=max(60.0, timeout * 4)),
            ARMChallengeAuthenticationPolicy(credential, f"{self.base}/.default"),
            _Guard(),
        ])

    def _url(self, path: str, api_version: str) -> str:
        if path.startswith("https://"):
            return path
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}api-version={api_version}"

    def _send(self, call: str, method: str, url: str) -> Any:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.rest import HttpRequest

        try:
            return self.client._pipeline.run(HttpRequest(method, url), stream=True)
        except ArmError as exc:
            raise ArmError(call, exc.code, exc.detail) from None
        except ClientAuthenticationError as exc:
            raise ArmError(call, "token", "no token for ARM: "
                           f"{printable(str(exc.message or exc))[:300]}") from None
        except ServiceResponseError as exc:
            raise ArmError(call, "timeout" if "timed out" in str(exc) else "connection",
                           f"no answer from {self.host}: {printable(str(exc))[:200]}") from None
        except ServiceRequestError as exc:
            raise ArmError(call, "connection", f"cannot reach {self.host}: "
                           f"{printable(str(exc))[:200]}") from None

    @staticmethod
    def _body(call: str, response: Any) -> bytes:
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > ANSWER_LIMIT:
                response.close()
                raise ArmError(call, "shape", f"answer over {ANSWER_LIMIT} bytes")
        return bytes(data)

    def _json(self, call: str, status: int, body: bytes) -> Any:
        if status >= 400:
            raise _arm_error(call, status, body)
        try:
            return load_json(body, call, expected="ARM's JSON")
        except InputError as exc:
            raise ArmError(call, "shape", printable(exc.message)[:300]) from None

    def get(self, call: str, path: str, api_version: str) -> Any:
        """GET one resource (``path`` from /subscriptions...): its JSON."""
        response = self._send(call, "GET", self._url(path, api_version)).http_response
        return self._json(call, response.status_code, self._body(call, response))

    def pages(self, call: str, path: str, api_version: str) -> Iterator[Any]:
        """Every item of a paged list (``value`` + ``nextLink``), through azure-core's pager."""
        from azure.core.paging import ItemPaged

        def get_next(link: str | None) -> Any:
            return self.get(call, link or path, api_version)

        def extract(page: Any) -> tuple[str | None, Iterator[Any]]:
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ArmError(call, "shape", "expected a page {value: [...], nextLink}")
            link = page.get("nextLink")
            return (link if isinstance(link, str) and link else None), iter(page["value"])

        return iter(ItemPaged(get_next, extract))

    def action(self, call: str, path: str, api_version: str, wait: float = 60.0) -> Any:
        """POST a long-running action and poll it (202 + Azure-AsyncOperation or
        Location, Retry-After honoured) through azure-mgmt-core's ARMPolling."""
        from azure.core.exceptions import AzureError
        from azure.core.polling import LROPoller
        from azure.mgmt.core.polling.arm_polling import ARMPolling

        initial = self._send(call, "POST", self._url(path, api_version))
        response = initial.http_response
        if response.status_code not in (200, 201, 202):
            raise _arm_error(call, response.status_code, self._body(call, response))
        response.read()

        def final(pipeline_response: Any) -> Any:
            answer = pipeline_response.http_response
            return self._json(call, answer.status_code, answer.body())

        poller: Any = LROPoller(self.client, initial, final,
                                ARMPolling(self.lro_delay, lro_options={
                                    "final-state-via": "location"}))
        try:
            result = poller.result(timeout=wait)
        except ArmError:
            raise
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            raise ArmError(call, str(status) if status else "lro",
                           "long-running operation failed: "
                           f"{printable(str(getattr(exc, 'message', exc)))[:300]}",
                           status=status) from None
        if not poller.done():
            raise ArmError(call, "timeout", f"long-running operation not done in {wait:g} s")
        return result
