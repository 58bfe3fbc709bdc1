"""The Graph API's error answers, as the Cloud API words them.

Every error has the shape ``{"error": {"message", "type", "code", "error_subcode"?, "error_data":
{"messaging_product", "details"}, "fbtrace_id"}}``; Meta puts the code into the message as ``(#code)``.
"""

from __future__ import annotations

import base64
import json
import os


class GraphError(Exception):
    """An error answer: raised anywhere in a handler, turned into the HTTP response by the app."""

    def __init__(self, status: int, code: int, message: str, details: str = "", subcode: int | None = None,
                 kind: str = "OAuthException", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.subcode, self.kind, self.retry_after = subcode, kind, retry_after

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = base64.b64encode(os.urandom(15)).decode()
        return json.dumps({"error": error}).encode()

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def bad_token() -> GraphError:
    return GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")


def unknown_object(object_id: str) -> GraphError:
    # What Graph answers for an id that is no number or account of this token (a wrong phone_number_id or WABA).
    return GraphError(
        400, 100,
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33, kind="GraphMethodException",
    )


def invalid_parameter(details: str, subcode: int | None = None) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details, subcode=subcode)


def template_missing(details: str) -> GraphError:
    return GraphError(404, 132001, "(#132001) Template name does not exist in the translation", details)


def template_paused(details: str) -> GraphError:
    return GraphError(400, 132015, "(#132015) Template is Paused", details)


def template_disabled(details: str) -> GraphError:
    return GraphError(400, 132016, "(#132016) Template has been disabled", details)


def parameter_count(details: str) -> GraphError:
    return GraphError(400, 132000, "(#132000) Number of parameters does not match the expected number of params",
                      details)


def parameter_format(details: str) -> GraphError:
    return GraphError(400, 132012, "(#132012) Parameter format does not match format in the created template",
                      details)


def throughput(retry_after: int) -> GraphError:
    return GraphError(400, 130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.",
                      retry_after=retry_after)


def too_many_requests(retry_after: int) -> GraphError:
    return GraphError(429, 80007, "(#80007) Rate limit issues",
                      "The WhatsApp Business Account has reached its rate limit.", retry_after=retry_after)


def server_error() -> GraphError:
    return GraphError(500, 131000, "(#131000) Something went wrong", "Something went wrong. Try again later.")


# Errors that arrive in a failed status webhook, not in the send's answer: code → (title, details).
STATUS_ERRORS = {
    131026: ("Message undeliverable", "Message Undeliverable."),
    131047: ("Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last replied to "
             "this number."),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
             "WhatsApp from your business.",
             "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
             "WhatsApp from your business."),
}
