"""The judge: the trusted side of each test, in a process that can be killed.

It drives the sandbox child of a job (load the program, one test at a time), rebuilds what the
child answers (values.py), and evaluates the trusted rest of every assert (assert_split.py) with
program objects as proxies (remote.py). Decoding and evaluating run on values the program chose
(a set of ints with equal hashes, `range(f(1))`, `'a' * f(1)`), so the judge is a separate
process the supervisor forks: bounded in memory (RLIMIT_AS), in CPU per test (a SIGPROF timer
raises at the test's budget; RLIMIT_CPU ends the process when C-level work ignores it), and
writing each test's outcome into memory it shares with the supervisor, which survives a judge
that dies, reports the test that killed it and forks a fresh one.

Supervisor protocol (frames.send_message / recv_message, fds passed with SCM_RIGHTS):
  supervisor -> judge  {"job": job, "seq": n} + [child socket]
  judge -> supervisor  {"spawn": true, "reason": ...}     kill the current child, start another
  supervisor -> judge  {"child": true, "previous": ...} + [child socket] | {"child": false, "error": ...}
  judge -> supervisor  {"done": {status, outcomes, error?, messages?, values?, child}}
`child` says what the judge saw of the last child ("alive", "died", "timeout"); `previous` is the
supervisor's reading of the replaced child's exit ("crash", "memory", "timeout", "killed").
"""
from __future__ import annotations

import collections
import ctypes
import gc
import marshal
import math
import os
import resource
import signal
import socket
import struct
import sys
import time
from collections import OrderedDict

from sandbox_workers import assert_split, frames, jobs, remote, values

SPLIT_CACHE_SIZE = 8192
PARSE_CACHE_SIZE = 8192
JUDGE_MEMORY_MB = 4096  # the hard limit; each job lowers the soft one (judge_memory_mb)
MAX_KIND_CHARS = 300     # a name's kind in the child's load report ("a:numpy:allclose")
MAX_TIMEOUTS_VALUES = 3  # values mode: after this many timeouts the rest is not_run
OUTCOME_CODES = {name: i for i, name in enumerate(jobs.OUTCOMES)}
PROGRESS = struct.Struct("=III")  # job seq, tests, current test; then one byte per test


class ChildTimeout(BaseException):
    """The child missed its deadline."""


class ChildDied(BaseException):
    """The child closed its stream or sent something that is not a reply."""


class ChildMemory(BaseException):
    """The program ran out of memory (MemoryError in the child)."""


class TrustedTimeout(BaseException):
    """The trusted evaluation of one test used up its CPU budget."""


_libc = ctypes.CDLL(None)


def _on_sigprof(signum, frame):
    raise TrustedTimeout()


# ---------------------------------------------------------------------------------------------
# The channel to one child
# ---------------------------------------------------------------------------------------------


class Channel:
    """Requests to one sandbox child and the trusted side's view of its objects."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = frames.FrameReader(sock)
        self.codec = values.TrustedCodec(self)
        self.remotes: dict[int, remote.Remote] = {}
        self.iterators: dict[int, list] = {}
        self.deadline = math.inf

    def close(self) -> None:
        """End of the child: drop every proxy, buffer and mirror of its objects (they reference
        this channel, so nothing else would free them before a garbage collection)."""
        self.sock.close()
        self.remotes.clear()
        self.iterators.clear()
        self.codec.mirrors.clear()
        self.reader = None  # and its buffer (up to a frame's size)

    def remote(self, ref: int, name: str, flags: int) -> remote.Remote:
        proxy = self.remotes.get(ref)
        if proxy is None:
            proxy = self.remotes[ref] = remote.Remote(ref, name, flags, self)
        return proxy

    def send(self, message: tuple) -> None:
        payload = marshal.dumps(message)
        try:
            self.sock.sendall(frames.HEADER.pack(len(payload)) + payload)
        except OSError:
            raise ChildDied() from None

    def send_raw(self, framed: bytes) -> None:
        try:
            self.sock.sendall(framed)
        except OSError:
            raise ChildDied() from None

    def reply(self) -> list:
        """The child's next reply as a JSON tree (values not yet rebuilt)."""
        try:
            payload = self.reader.read(self.deadline)
        except frames.FrameTimeout:
            raise ChildTimeout() from None
        except (frames.FrameError, OSError):
            raise ChildDied() from None
        try:
            tree = self.codec.loads(payload)
        except values.ValueBudget:
            raise  # the test is an error; the stream is still in step
        except values.ValueLimit:
            raise ChildDied() from None
        if type(tree) is not list or not tree or type(tree[0]) is not str:
            raise ChildDied()
        return tree

    def request(self, message: tuple):
        self.send(message)
        return self.value(self.reply())

    def value(self, tree: list):
        """The value of a ["v", x] reply, or the exception of an ["x", ...] reply."""
        if tree[0] == "v" and len(tree) in (2, 3):
            return self.codec.decode(tree[1])
        if tree[0] == "x" and len(tree) == 4:
            raise program_exception(tree[1:])
        raise ChildDied()

    def op(self, name: str, *args):
        return self.request(("op", name, *[self.codec.encode(a) for a in args]))

    def call(self, head: tuple, args, kwargs):
        """A call into the program with trusted arguments: they are copied in, and the changes
        the call made to them are copied back into the same objects (as if shared)."""
        codec = self.codec
        try:
            self.send(head + (codec.encode_args([list(args), dict(kwargs)]),))
            reply = self.reply()
            value = self.value(reply)
            if len(reply) == 3:
                codec.accept_changes(reply[2])
            return value
        finally:
            codec.forget_sent()

    def next(self, proxy: remote.Remote):
        """next() of a program iterator. An iterator over data is fetched in growing chunks (1,
        8, 64 ... 4096): `next(it)` takes one element and `list(it)` few round trips; one that
        runs program code per element (a generator, map) one element at a time, so its side
        effects happen exactly when Python's would."""
        state = self.iterators.get(proxy._sbx_ref)
        if state is None:
            state = self.iterators[proxy._sbx_ref] = [collections.deque(), 1, None]
        buffer = state[0]
        if not buffer:
            end = state[2]
            if end is not None:
                state[2] = StopIteration()  # an iterator that ended stays ended
                raise end
            self.send(("op", "next", {"h": proxy._sbx_ref}, state[1]))
            tree = self.reply()
            if tree[0] != "n" or len(tree) != 3 or type(tree[1]) is not list or len(tree[1]) > state[1]:
                raise ChildDied()  # (more than asked for: a child filling the judge's buffers)
            buffer.extend(self.codec.decode(x) for x in tree[1])
            if proxy._sbx_flags & values.PURE_ITERATOR:  # others: one element per next(), as
                state[1] = min(state[1] * 8, 4096)      # the program's code runs per element
            if tree[2] is not None:
                state[2] = StopIteration() if tree[2] == "stop" else program_exception(tree[2])
            if not buffer:
                return self.next(proxy)
        return buffer.popleft()


def program_exception(error) -> BaseException:
    """The trusted-side exception for a child's [base, description, is_memory]."""
    if type(error) is not list or len(error) != 3:
        return ChildDied()
    base, description, is_memory = error
    if is_memory is True:
        return ChildMemory()
    return remote.rebuild_exception(base, str(description)[:400])


# ---------------------------------------------------------------------------------------------
# The trusted environment of one test
# ---------------------------------------------------------------------------------------------


# Underscore attributes the trusted side reads off trusted values (namedtuple methods, names).
_ALLOWED_UNDERSCORE = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults",
                                 "__name__", "__qualname__", "__module__", "__doc__", "__version__"})
_DENIED_ATTRIBUTES = frozenset({"tofile", "dump", "dumps", "ctypes", "mro"})  # files, pointers
# Builtin predicates a test calls on a result it expects to be a str, set or number: on a
# program object they would be the program's (an object answering True to every startswith).
_PREDICATES = frozenset(
    "startswith endswith isdigit isalpha isalnum isspace islower isupper istitle isidentifier "
    "isdecimal isnumeric isprintable isascii issubset issuperset isdisjoint is_integer".split())


class _SafeFormatter(__import__("string").Formatter):
    """str.format for the trusted side: fields name arguments only; `{0.__class__}` and
    `{0[k]}` would walk attributes of trusted objects with a format string a program chose."""

    def get_field(self, field_name, args, kwargs):
        if "." in field_name or "[" in field_name:
            raise remote.UnscorableTest(f"a format field with attribute or index access ({field_name!r})")
        return super().get_field(field_name, args, kwargs)


_FORMATTER = _SafeFormatter()


def trusted_getattr(channel: Channel):
    """The attribute reads of the trusted rest: a program object's attributes are read in the
    child (any name: they are the program's data); a trusted value's only if public, and never
    the ones that reach files, pointers or interpreter internals."""
    import types

    def getattr_(obj, name):
        if isinstance(obj, remote.Remote):
            if name in _PREDICATES:
                raise remote.UnscorableTest(
                    f"{name}() of an object of the program's class {obj._sbx_name!r}: the test "
                    f"expects a builtin value, and the program's own method would decide")
            return channel.op("getattr", obj, name)
        if (name.startswith("_") and name not in _ALLOWED_UNDERSCORE) or name in _DENIED_ATTRIBUTES or (
                isinstance(obj, types.ModuleType) and name in assert_split.MODULE_DENY):
            raise remote.UnscorableTest(f"the attribute {name!r} of a {type(obj).__name__} is not "
                                        f"available to tests")
        if name in ("format", "format_map") and (obj is str or isinstance(obj, str)):
            if obj is str:  # str.format(template, ...)
                return (lambda template, *a, **k: _FORMATTER.vformat(template, a, k)) if name == "format" \
                    else (lambda template, mapping: _FORMATTER.vformat(template, (), mapping))
            return (lambda *a, **k: _FORMATTER.vformat(obj, a, k)) if name == "format" \
                else (lambda mapping: _FORMATTER.vformat(obj, (), mapping))
        return getattr(obj, name)
    return getattr_


def _wrappers(channel: Channel) -> dict:
    """Builtins that must know program objects: isinstance/issubclass ask the child about
    them, type() of a program object is its (remote) class, callable() reads the handle."""

    def isinstance_(obj, cls):
        if remote.program_made(obj):
            return bool(channel.op("isinstance", obj, cls))
        return isinstance(obj, cls)

    def issubclass_(cls, base):
        if remote.program_made(cls):
            return bool(channel.op("issubclass", cls, base))
        return issubclass(cls, base)

    def type_(*args):
        if len(args) != 1:
            raise TypeError("only type(x) is available in tests")
        obj = args[0]
        if isinstance(obj, remote.Remote):
            return channel.op("type", obj)
        cls = type(obj)
        ref = getattr(cls, "_sbx_cls_ref", None)
        if type(ref) is int:
            return channel.remote(ref, cls.__name__, values.IS_CLASS | values.CALLABLE)
        return cls

    def callable_(obj):
        if isinstance(obj, remote.Remote):
            return bool(obj._sbx_flags & values.CALLABLE)
        return callable(obj)

    return {id(isinstance): isinstance_, id(issubclass): issubclass_, id(type): type_,
            id(callable): callable_, "getattr": trusted_getattr(channel)}


def _framed(message: tuple) -> bytes:
    payload = marshal.dumps(message)
    if len(payload) > frames.MAX_FRAME:
        raise assert_split.InvalidTest(f"a call site of {len(payload)} bytes is over the limit")
    return frames.HEADER.pack(len(payload)) + payload


class Plan:
    """One split test with its call sites compiled, and their requests marshalled, once (tests
    shared by many jobs cost nothing after the first). Each site travels alone, when reached."""

    def __init__(self, split: assert_split.SplitAssert):
        self.split = split
        self.codes = [compile(c.source, "<test>", "eval") for c in split.calls]
        self.eval_requests = [_framed(("eval", code)) if site.kind == "closed" else None
                              for site, code in zip(split.calls, self.codes)]
        self.batch_request = _framed(("batch", self.codes)) if split.calls and split.eager else None


_TRUSTED_BUILTINS = {"__import__": __import__}


def evaluate(plan: Plan, channel: Channel, wrappers: dict, want_value: bool = False):
    """Run one test against the loaded program; returns bool(assert expression) (or its value)."""
    split = plan.split
    channel.codec.start_test()
    batch, stop, position = [], None, [0]
    if plan.batch_request is not None:
        channel.send_raw(plan.batch_request)
        tree = channel.reply()
        if tree[0] != "b" or len(tree) != 3 or type(tree[1]) is not list:
            raise ChildDied()
        batch = [channel.codec.decode(x) for x in tree[1]]
        if tree[2] is not None:
            stop = program_exception(tree[2])

    def call(k):
        if k != position[0] and split.eager:
            raise RuntimeError("call sites evaluated out of order (an eager split is wrong)")
        position[0] = k + 1
        if k < len(batch):
            return batch[k]
        if k == len(batch) and stop is not None:
            raise stop
        channel.send_raw(plan.eval_requests[k])
        return channel.value(channel.reply())

    def apply(k, args, kwargs):
        return channel.call(("apply", plan.codes[k]), args, kwargs)

    # No builtins by name (the test's trusted names are in `split.names`); __import__ only for
    # the C code of trusted values that imports lazily (datetime.strftime, numpy reductions).
    env = {"__builtins__": _TRUSTED_BUILTINS, assert_split.CALL_HOOK: call, assert_split.APPLY_HOOK: apply,
           assert_split.GETATTR_HOOK: wrappers["getattr"]}
    for name, obj in split.names.items():
        env[name] = wrappers.get(id(obj), obj)
    value = eval(split.code, env)  # noqa: S307 - the trusted rest, whitelisted names only
    return value if want_value else bool(value)


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------


class Progress:
    """Per-test outcomes shared with the supervisor (MAP_SHARED), so a judge that dies mid-job
    loses nothing already decided."""

    def __init__(self, buffer):
        self.buffer = buffer

    def start(self, seq: int, n: int) -> None:
        PROGRESS.pack_into(self.buffer, 0, seq, n, 0)
        self.buffer[PROGRESS.size:PROGRESS.size + n] = bytes(n)

    def current(self, i: int) -> None:
        struct.pack_into("=I", self.buffer, 8, i)

    def set(self, i: int, outcome: str) -> None:
        self.buffer[PROGRESS.size + i] = OUTCOME_CODES[outcome]

    def read(self) -> tuple[int, int, list[str]]:
        seq, n, current = PROGRESS.unpack_from(self.buffer, 0)
        codes = self.buffer[PROGRESS.size:PROGRESS.size + n]
        return seq, current, [jobs.OUTCOMES[c] if c < len(jobs.OUTCOMES) else "not_run" for c in codes]


class _CpuBudget:
    """Per test: SIGPROF raises TrustedTimeout after `seconds` of judge CPU (one setitimer per
    test). Per job: RLIMIT_CPU ends the judge 2 s after the job's total, if C-level work (which
    never runs a signal handler) holds it."""

    def __init__(self):
        signal.signal(signal.SIGPROF, _on_sigprof)
        signal.signal(signal.SIGXCPU, signal.SIG_DFL)

    @staticmethod
    def start_job(seconds: float) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        resource.setrlimit(resource.RLIMIT_CPU, (int(used + seconds) + 2, resource.RLIM_INFINITY))

    @staticmethod
    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_PROF, seconds)

    @staticmethod
    def disarm() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)


class Judge:
    def __init__(self, sock: socket.socket, progress: Progress):
        self.sock = sock
        self.progress = progress
        self.parsed: OrderedDict = OrderedDict()
        self.plans: OrderedDict = OrderedDict()
        self.budget = _CpuBudget()

    # -- caches ----------------------------------------------------------------------------
    def parse(self, test: str):
        parsed = self.parsed.get(test)
        if parsed is None:
            try:
                parsed = assert_split.parse_test(test)
            except assert_split.InvalidTest as e:
                parsed = e
            self.parsed[test] = parsed
            if len(self.parsed) > PARSE_CACHE_SIZE:
                self.parsed.popitem(last=False)
        return parsed

    def plan(self, parsed: assert_split.ParsedTest, report: dict, resolve):
        key = (parsed.source, assert_split.signature(parsed, report))
        plan = self.plans.get(key)
        if plan is None:
            try:
                plan = Plan(assert_split.split_assert(parsed, resolve))
            except assert_split.TrustedImportFailed as e:
                return e  # a transient failure: not cached
            except assert_split.InvalidTest as e:
                plan = e
            except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                plan = assert_split.InvalidTest(f"cannot compile a call site: {type(e).__name__}")
            self.plans[key] = plan
            if len(self.plans) > SPLIT_CACHE_SIZE:
                self.plans.popitem(last=False)
        return plan

    # -- the supervisor ------------------------------------------------------------------
    def new_child(self, reason: str) -> tuple[Channel | None, str | None]:
        frames.send_message(self.sock, {"spawn": True, "reason": reason})
        message, fds = frames.recv_message(self.sock)
        if not message.get("child"):
            for fd in fds:
                os.close(fd)
            return None, message.get("previous")
        return Channel(socket.socket(fileno=fds[0])), message.get("previous")

    def serve(self) -> None:
        while True:
            try:
                message, fds = frames.recv_message(self.sock)
            except frames.FrameError:
                return
            run = JobRun(self, message["job"], message["seq"], Channel(socket.socket(fileno=fds[0])))
            result = run.run()
            run.channel.close()
            if run.made_mirrors:
                gc.collect()  # mirror classes are cycles (a class and its MRO)
            del run
            _libc.malloc_trim(0)  # what the job's values took goes back before the next job
            frames.send_message(self.sock, {"done": result})


class JobRun:
    """One job in the judge: load, tests (one child, or one per test with fresh_state).

    Why over 150 lines: the job's phases (load, per-test calls, verdicts, the timeout and crash
    paths) share the child and its channel; each phase is a method, the lifecycle one class."""

    def __init__(self, judge: Judge, job: dict, seq: int, channel: Channel):
        self.judge, self.job, self.channel = judge, job, channel
        self.timeout_s = job["timeout_s"]
        self.values_mode = job["mode"] == "values"
        self.tests = job["tests"]
        n = len(self.tests)
        self.outcomes = ["not_run"] * n
        self.messages = [None] * n if job["details"] or self.values_mode else None
        self.value_records = [None] * n if self.values_mode else None
        judge.progress.start(seq, n)
        limit = judge_memory_mb(job["memory_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        self.status, self.error, self.child_state = "ok", None, "alive"
        self.wrappers = _wrappers(channel)
        self.report = None
        self._mirrors_made = False

    # -- outcome bookkeeping -------------------------------------------------------------
    def set(self, i: int, outcome: str, message: str | None = None) -> None:
        self.outcomes[i] = outcome
        self.judge.progress.set(i, outcome)
        if self.messages is not None and message is not None:
            self.messages[i] = message[:400]

    def fail_job(self, status: str, error: str) -> None:
        if self.status == "ok":
            self.status, self.error = status, error

    # -- the program ---------------------------------------------------------------------
    def names(self, parsed: list) -> tuple:
        names = set()
        for p in parsed:
            if isinstance(p, assert_split.ParsedTest):
                names |= p.free_names
                if p.imports:
                    names.add("__import__")
        return tuple(sorted(names))

    def load(self, names: tuple) -> bool:
        """Load the program in the current child; False (status set) when it does not load."""
        self.channel.deadline = time.monotonic() + self.job["load_timeout_s"]
        try:
            self.channel.send(("load", self.job["program"], names))
            reply = self.channel.reply()
        except ChildTimeout:
            self.child_state = "timeout"
            self.fail_job("timeout", "program did not finish loading in time")
            return False
        except ChildDied:
            self.child_state = "died"
            self.fail_job("crash", "child died while loading the program")
            return False
        if reply[0] == "ok" and len(reply) == 2 and type(reply[1]) is dict:
            # Only the names asked about, and only well-formed kinds (anything else is just the
            # program's: the worst a lie does is keep a name in the child).
            self.report = {k: v if type(v) is str and len(v) <= MAX_KIND_CHARS else "p"
                           for k, v in reply[1].items() if k in names}
            self.resolve = assert_split.resolver(self.report)
            self.plans = {}
            return True
        if reply[0] in ("syntax", "raise") and len(reply) == 3:
            memory = reply[2] is True
            if reply[0] == "syntax":
                self.fail_job("memory" if memory else "syntax_error", str(reply[1])[:500])
            else:
                self.fail_job("memory" if memory else "crash",
                              f"program raised at import: {str(reply[1])[:500]}")
            return False
        self.child_state = "died"
        self.fail_job("crash", "child sent a malformed load reply")
        return False

    # -- tests -----------------------------------------------------------------------------
    def run(self) -> dict:
        parsed = []
        for i, test in enumerate(self.tests):
            source = f"assert ({test})" if self.values_mode and isinstance(test, str) else test
            p = self.judge.parse(source)
            if isinstance(p, assert_split.InvalidTest):
                return {"status": "invalid", "outcomes": ["not_run"] * len(self.tests),
                        "error": f"tests[{i}]: {p}", "child": "alive"}
            parsed.append(p)
        names = self.names(parsed)
        fresh = self.job["fresh_state"]
        timeouts, unusable = 0, False
        self.judge.budget.start_job(self.timeout_s * len(parsed) + self.job["load_timeout_s"])
        try:
            return self._run(parsed, names, fresh)
        finally:
            self.judge.budget.disarm()

    def _run(self, parsed, names, fresh) -> dict:
        timeouts, unusable = 0, False
        if not self.load(names):
            return self.result()
        for i, p in enumerate(parsed):
            if i and (fresh or (unusable and self.values_mode)):
                # A new child: every test against a fresh copy of the program (fresh_state), or,
                # in values mode, the remaining expressions after one timed out or crashed.
                if not self.respawn(names, "fresh state" if fresh else "after a failed expression"):
                    break
            elif unusable:
                break  # the rest stays not_run
            unusable = self.run_test(i, p)
            if unusable and self.values_mode and self.child_state == "timeout":
                timeouts += 1
                if timeouts >= self.job["max_timeouts"]:
                    break
        return self.result()

    @property
    def made_mirrors(self) -> bool:
        return self._mirrors_made or bool(self.channel.codec.mirrors)

    def respawn(self, names, reason) -> bool:
        self._mirrors_made = self._mirrors_made or bool(self.channel.codec.mirrors)
        self.channel.close()
        channel, previous = self.judge.new_child(reason)
        self.note_previous(previous)
        if channel is None:
            self.fail_job("crash", "the supervisor could not start a fresh child")
            return False
        self.channel, self.child_state = channel, "alive"
        self.wrappers = _wrappers(channel)
        return self.load(names)

    def note_previous(self, previous: str | None) -> None:
        """Refine the last failed test with the supervisor's reading of that child's exit."""
        if previous in ("memory", "timeout") and self.status in ("crash", "ok"):
            self.status = previous

    def run_test(self, i: int, parsed) -> bool:
        """Run test i; True when the child is no longer usable (later tests need another)."""
        plan = self.plans.get(parsed.source)  # per load: the report is fixed
        if plan is None:
            plan = self.plans[parsed.source] = self.judge.plan(parsed, self.report, self.resolve)
        if isinstance(plan, assert_split.InvalidTest):
            self.set(i, "error", f"cannot be scored: {plan}")
            return False
        channel = self.channel
        self.judge.progress.current(i)
        channel.deadline = time.monotonic() + self.timeout_s
        budget = self.judge.budget
        try:
            budget.arm(self.timeout_s)  # re-armed by the next test, disarmed after the job
            result = evaluate(plan, channel, self.wrappers, want_value=self.values_mode)
            if self.values_mode:
                self.record_value(i, result)
            else:
                self.set(i, "pass" if result else "fail")
            return False
        except ChildTimeout:
            self.set(i, "timeout")
            self.child_state = "timeout"
            self.fail_job("timeout", f"tests[{i}] exceeded {self.timeout_s}s")
        except TrustedTimeout:
            self.set(i, "timeout", "the trusted side's work on this test's values ran out of time")
            self.child_state = "timeout"
            self.fail_job("timeout", f"tests[{i}]: evaluating the program's values exceeded "
                                     f"{self.timeout_s}s")
        except ChildDied:
            self.set(i, "error", "the program's process died")
            self.child_state = "died"
            self.fail_job("crash", f"child died during tests[{i}]")
        except ChildMemory:
            self.set(i, "error", "MemoryError")
            self.child_state = "died"
            self.fail_job("memory", f"tests[{i}] ran out of memory")
        except MemoryError:
            self.set(i, "error", "the trusted side ran out of memory on this test's values")
            self.child_state = "died"
            self.fail_job("memory", f"tests[{i}]: the program's values are too large to compare")
        except remote.UnscorableTest as e:
            self.set(i, "error", f"cannot be scored safely: {e}")
            return False
        except values.ValueLimit as e:
            self.set(i, "error", f"value rejected: {e}")
            return False
        except Exception as e:  # noqa: BLE001 - the program or the trusted rest raised
            self.set(i, "error", f"{type(e).__name__}: {str(e)[:300]}")
            return False
        return True

    def record_value(self, i: int, value) -> None:
        try:
            text = repr(value)
        except Exception as e:  # noqa: BLE001
            self.set(i, "error", f"repr raised {type(e).__name__}: {str(e)[:200]}")
            return
        self.value_records[i] = {"repr": text[:100_000], "plain": _is_plain(value)}
        self.set(i, "pass")

    def result(self) -> dict:
        extra = {"child": self.child_state}
        if self.messages is not None and not self.values_mode:
            extra["messages"] = self.messages
        if self.values_mode:
            extra["values"] = [
                dict(record, outcome="ok") if record is not None else
                {"outcome": o if o != "pass" else "ok", "error": m}
                for record, o, m in zip(self.value_records, self.outcomes, self.messages)]
        if self.status != "ok":
            extra["error"] = self.error
        return {"status": self.status, "outcomes": self.outcomes, **extra}


def judge_memory_mb(memory_mb: int) -> int:
    """Address space the judge may use for one job: its own interpreter (numpy included) plus
    room to rebuild and compare the program's values, in proportion to what the program may hold."""
    return min(JUDGE_MEMORY_MB, max(1024, 512 + 2 * memory_mb))


def _is_plain(value, depth: int = 0) -> bool:
    """Whether `value` is made only of literal-expressible builtins (so repr round-trips)."""
    t = type(value)
    if value is None or t in (bool, int, str, bytes, complex):
        return True
    if t is float:
        return math.isfinite(value)
    if depth > 100:
        return False
    if t in (list, tuple, set, frozenset):
        return all(_is_plain(v, depth + 1) for v in value)
    if t is dict:
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


# ---------------------------------------------------------------------------------------------
# Process setup
# ---------------------------------------------------------------------------------------------


def start(supervisor_sock: socket.socket, progress_buffer, memory_mb: int = JUDGE_MEMORY_MB,
          keep_fds: tuple = ()) -> int:
    """Fork the judge from the supervisor; returns its pid (in the supervisor)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        keep = sorted({supervisor_sock.fileno(), *keep_fds})
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 20)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1):
            os.dup2(null, fd)
        os.close(null)
        from sandbox_workers import isolation
        isolation.confine_judge(memory_mb)
        Judge(supervisor_sock, Progress(progress_buffer)).serve()
    except BaseException:  # noqa: BLE001
        pass
    os._exit(0)
