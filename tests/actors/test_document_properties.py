"""Any interleaving of edits, delivered in any order the network allows, converges."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeinterview.actors.document import SessionDocument
from tests.actors.test_document import Client

LANGUAGES = ["javascript", "python", "go"]
TEXT = st.text(alphabet="ab\n 😀é𝄞", max_size=4)


@dataclass(frozen=True)
class Insert:
    client: int
    position: int
    text: str


@dataclass(frozen=True)
class Delete:
    client: int
    position: int
    length: int


@dataclass(frozen=True)
class Replace:
    """A JSON client's full-text save: the server's text with one region rewritten."""

    position: int
    length: int
    text: str


@dataclass(frozen=True)
class SetLanguage:
    client: int | None  # None: through the server (REST / JSON), else in a client's `meta`
    language: str


@dataclass(frozen=True)
class Deliver:
    """Moves the oldest frame one step: client to server (`up`) or server to client."""

    client: int
    up: bool


@dataclass(frozen=True)
class Reconnect:
    """The connection drops, losing whatever was in flight, and the client opens a new one."""

    client: int


Operation = Insert | Delete | Replace | SetLanguage | Deliver | Reconnect


def operations(clients: int) -> st.SearchStrategy[Operation]:
    client = st.integers(0, clients - 1)
    position = st.integers(0, 10_000)
    return st.one_of(
        st.builds(Insert, client, position, TEXT.filter(bool)),
        st.builds(Delete, client, position, st.integers(1, 3)),
        st.builds(Replace, position, st.integers(0, 3), TEXT),
        st.builds(SetLanguage, st.none() | client, st.sampled_from(LANGUAGES)),
        st.builds(Deliver, client, st.booleans()),
        st.builds(Deliver, client, st.booleans()),
        st.builds(Deliver, client, st.booleans()),
        st.builds(Reconnect, client),
    )


class Network:
    """One server, several clients, one FIFO queue per direction per connection."""

    def __init__(self, clients: int) -> None:
        self.server = SessionDocument(code="start 😀\n", language="javascript")
        self.clients = [Client(connection_id=index + 1) for index in range(clients)]
        self.inboxes: dict[int, deque[bytes]] = {}
        for client in self.clients:
            self.connect(client)

    def connect(self, client: Client) -> None:
        self.inboxes[client.connection_id] = deque([self.server.sync_step1()])
        client.open()

    def run(self, operation: Operation) -> None:
        match operation:
            case Insert(index, position, text):
                client = self.clients[index]
                client.insert(position % (len(client.code) + 1), text)
            case Delete(index, position, length):
                client = self.clients[index]
                if client.code:
                    start = position % len(client.code)
                    client.delete(start, min(length, len(client.code) - start))
            case Replace(position, length, text):
                code = self.server.code
                start = position % (len(code) + 1)
                new_code = code[:start] + text + code[start + length :]
                self.to_everyone(self.server.replace_text(new_code))
            case SetLanguage(None, language):
                self.to_everyone(self.server.set_language(language))
            case SetLanguage(int() as index, language):
                self.clients[index].meta["language"] = language
            case Deliver(index, True):
                self.deliver_up(self.clients[index])
            case Deliver(index, False):
                self.deliver_down(self.clients[index])
            case Reconnect(index):
                self.reconnect(self.clients[index])

    def to_everyone(self, message: bytes | None) -> None:
        if message is not None:
            for inbox in self.inboxes.values():
                inbox.append(message)

    def deliver_up(self, client: Client) -> None:
        if client.outbox:
            result = self.server.handle_frame(client.connection_id, client.outbox.pop(0))
            self.inboxes[client.connection_id].extend(result.reply)
            for connection_id, inbox in self.inboxes.items():
                inbox.extend(result.broadcast_all)
                if connection_id != client.connection_id:
                    inbox.extend(result.broadcast)

    def deliver_down(self, client: Client) -> None:
        inbox = self.inboxes[client.connection_id]
        if inbox:
            client.receive(inbox.popleft())

    def reconnect(self, client: Client) -> None:
        self.to_everyone(self.server.drop_connection(client.connection_id))
        del self.inboxes[client.connection_id]
        client.outbox.clear()
        client.connection_id += 100
        self.connect(client)

    def settle(self) -> None:
        while any(self.inboxes.values()) or any(client.outbox for client in self.clients):
            for client in self.clients:
                self.deliver_up(client)
                self.deliver_down(client)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[Operation]]:
    clients = draw(st.integers(2, 4))
    return clients, draw(st.lists(operations(clients), max_size=40))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_client_converges_on_the_server_text(scenario: tuple[int, list[Operation]]) -> None:
    clients, steps = scenario
    network = Network(clients)
    for operation in steps:
        network.run(operation)
    network.settle()
    for client in network.clients:
        assert client.code == network.server.code
        assert client.meta.get("language") == network.server.language
    # And what would be stored reloads to the same document.
    reloaded = SessionDocument(state=network.server.encode_state())
    assert (reloaded.code, reloaded.language) == (network.server.code, network.server.language)
