"""The one error the emulator's core raises: a gRPC status the service layer answers with."""

from __future__ import annotations

import grpc


class RpcError(Exception):
    """A request the emulator refuses, as the gRPC status Cloud Tasks would answer."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[RpcError], tuple[grpc.StatusCode, str]]:
        return (type(self), (self.code, self.message))

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def invalid(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.NOT_FOUND, message)


def unimplemented(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.UNIMPLEMENTED, message)
