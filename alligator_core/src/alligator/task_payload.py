"""A :class:`~alligator.tasks.Task` as a payload: the JSON that goes on a queue, and back.

:meth:`Task.serialize <alligator.tasks.Task.serialize>` and
:meth:`Task.deserialize <alligator.tasks.Task.deserialize>` call
:func:`serialize` and :func:`from_fields`; what a payload may hold, and how
each version spells it, is here in one place (the envelope itself, JSON
read strictly, is :mod:`alligator.payload`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from alligator import payload as _payload
from alligator import values
from alligator.limit_store import check_concurrency, check_key, parse_rate
from alligator.retries import DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_DELAY, DEFAULT_RETRY_MAX_DELAY
from alligator.task_checks import (
    _show,
    check_priority,
    check_result_ttl,
    check_retries,
    check_task_id,
    check_time_limit,
)

if TYPE_CHECKING:
    from alligator.tasks import Task

#: Version of the payload format of a plain JSON call; a call with a tagged
#: argument (a tuple, a datetime...) is written as version 2
#: (:data:`alligator.payload.TAGGED_VERSION`), which older workers refuse.
PAYLOAD_VERSION = _payload.PLAIN_VERSION


#: Payload fields newer than a task class of a user's own may be: passed to it only when present.
_NEWER_FIELDS = ("rate_limit", "concurrency_limit", "limit_key", "priority", "on_killed")


def serialize(task: Task) -> str:
    """Returns ``task`` as the JSON string that goes on the queue.

    See :meth:`Task.serialize <alligator.tasks.Task.serialize>`.

    Raises:
        ValueError: :meth:`~alligator.tasks.Task.to_call` was not called first.
    """
    if not task.callable:
        raise ValueError("call to_call(func, ...) before serializing a task")
    checked = task._plain_call
    args: Sequence[Any]
    if checked is not None and checked[0] is task.func_args and checked[1] is task.func_kwargs:
        args, kwargs = task.func_args, task.func_kwargs
    else:
        args, kwargs = _encode_call(task.func_args, task.func_kwargs, task.callable)
    tagged = args is not task.func_args or kwargs is not task.func_kwargs
    if _usual(task):
        try:
            return _USUAL % (
                _payload.TAGGED_VERSION if tagged else PAYLOAD_VERSION,
                _payload.quote(task.task_id),
                _payload.quote(cast(str, task.module)),  # a str: _usual checked
                _payload.quote(task.callable),
                _payload.dumps(args) if args else "[]",
                _payload.dumps(kwargs) if kwargs else "{}",
                task.retries,
                "true" if task.is_async else "false",
            )
        except (TypeError, ValueError):
            if task._plain_call is None:
                raise
            task._plain_call = None
            return task.serialize()
    data: dict[str, Any] = {
        "v": _payload.TAGGED_VERSION if tagged else PAYLOAD_VERSION,
        "task_id": task.task_id,
        "module": task.module,
        "callable": task.callable,
        "args": args,
        "kwargs": kwargs,
        "retries": task.retries,
        "is_async": task.is_async,
    }
    # Defaults stay out of the payload: smaller messages, faster queues.
    if task.on_start:
        data["on_start"] = task.on_start
    if task.on_success:
        data["on_success"] = task.on_success
    if task.on_error:
        data["on_error"] = task.on_error
    if task.on_killed:
        data["on_killed"] = task.on_killed
    if task.depends_on:
        data["depends_on"] = task.depends_on
    retry_policy = (task.retry_delay, task.retry_backoff, task.retry_max_delay)
    if retry_policy != (DEFAULT_RETRY_DELAY, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_MAX_DELAY):
        data["retry_policy"] = list(retry_policy)
    if not task.retry_jitter:
        data["retry_jitter"] = False
    # Checked again: an attribute may have been changed since __init__.
    if task.time_limit is not None:
        data["time_limit"] = check_time_limit(task.time_limit)
    if task.result_ttl is not None:
        data["result_ttl"] = check_result_ttl(task.result_ttl)
    if task.store_result is not True:
        if task.store_result is not False:
            raise TypeError(f"store_result must be True or False, not {_show(task.store_result)}")
        data["store_result"] = False
    if task.rate_limit is not None:
        data["rate_limit"] = str(parse_rate(task.rate_limit))
    if task.concurrency_limit is not None:
        data["concurrency_limit"] = check_concurrency(task.concurrency_limit)
    if task.limit_key is not None:
        data["limit_key"] = check_key(task.limit_key)
    if task.priority:
        data["priority"] = check_priority(task.priority)
    try:
        return _payload.dumps(data)
    except (TypeError, ValueError):
        if task._plain_call is None:
            raise
        # A value put into func_args in place after to_call: check it all again.
        task._plain_call = None
        return task.serialize()


# The payload of the usual task, every option at its default: what dumps
# writes for its dict, written out directly (the keys in the same order).
_USUAL = '{"v":%d,"task_id":%s,"module":%s,"callable":%s,"args":%s,"kwargs":%s,"retries":%d,"is_async":%s}'


def _usual(task: Task) -> bool:
    """Whether the payload holds the eight fields alone, each of the type the template writes."""
    return (
        type(task.task_id) is str
        and type(task.module) is str
        and type(task.callable) is str
        and type(task.retries) is int
        and type(task.is_async) is bool
        and type(task.func_args) is list
        and type(task.func_kwargs) is dict
        and not (task.on_start or task.on_success or task.on_error or task.on_killed or task.depends_on)
        and task.retry_delay == DEFAULT_RETRY_DELAY
        and task.retry_backoff == DEFAULT_RETRY_BACKOFF
        and task.retry_max_delay == DEFAULT_RETRY_MAX_DELAY
        and bool(task.retry_jitter)
        and task.time_limit is None
        and task.result_ttl is None
        and task.store_result is True
        and task.rate_limit is None
        and task.concurrency_limit is None
        and task.limit_key is None
        and task.priority == 0
    )


#: The keys every payload has.
_REQUIRED = ("task_id", "module", "callable", "retries")
#: The keys of the usual payload, every option at its default (see _USUAL).
_USUAL_KEYS = frozenset({"v", "task_id", "module", "callable", "args", "kwargs", "retries", "is_async"})
#: The type of each key a payload may have (others are ignored); built once,
#: not per payload read: a worker reads one per task.
_EXPECTED_TYPES: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "module": str,
    "callable": str,
    "args": list,
    "kwargs": dict,
    "retries": int,
    "is_async": bool,
    "on_start": str,
    "on_success": str,
    "on_error": str,
    "on_killed": str,
    "depends_on": list,
    "retry_policy": list,
    "retry_jitter": bool,
    "async": bool,
    "options": dict,
    "time_limit": (int, float),
    "result_ttl": (int, float),
    "store_result": bool,
    "rate_limit": str,
    "concurrency_limit": int,
    "limit_key": str,
    "priority": int,
}


#: Whether a task class builds its tasks with Task's own __init__, by class.
_PLAIN_INIT: dict[type, bool] = {}


def _plain_init(cls: type[Task]) -> bool:
    """Whether ``cls`` uses Task's ``__init__`` (one of its own is called with the payload's values)."""
    plain = _PLAIN_INIT.get(cls)
    if plain is None:
        from alligator.tasks import Task  # tasks imports this module

        plain = _PLAIN_INIT[cls] = cls.__init__ is Task.__init__
    return plain


def from_fields(cls: type[Task], fields: dict[str, Any]) -> Task:
    """Builds a ``cls`` from a payload's decoded JSON object, checking every field.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field is missing or out of bounds.
        NotSerializableError: An argument's tagged value is malformed.
    """
    missing = [key for key in _REQUIRED if key not in fields]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    version = fields.get("v", PAYLOAD_VERSION)
    if isinstance(version, bool) or version not in (PAYLOAD_VERSION, _payload.TAGGED_VERSION):
        raise ValueError(f"payload format version {_show(version)} is not supported")
    for key, value in fields.items():
        kind = _EXPECTED_TYPES.get(key)
        if kind is not None and not isinstance(value, kind):
            raise TypeError(f"{key!r} is a {type(value).__name__}")
    if fields.keys() <= _USUAL_KEYS and _plain_init(cls):
        # The usual payload (every option at its default): the defaults are
        # copied, not checked again (a worker reads one payload per task);
        # what the payload says is checked by the rules Task() applies.
        task = cls._with_defaults(check_task_id(fields["task_id"], "task_id"))
        task.retries = check_retries(fields["retries"])
        task.is_async = bool(fields.get("is_async", True))
        return _with_call(task, fields, version)
    hooks = {name: fields.get(name) for name in ("on_start", "on_success", "on_error")}
    delay_until = None
    if "options" in fields:
        # Alligator 0.5.0 put hooks (and later delay_until) under "options".
        delay_until = _legacy_options(fields["options"], hooks)
    policy = fields.get("retry_policy", [DEFAULT_RETRY_DELAY, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_MAX_DELAY])
    if len(policy) != 3 or not all(isinstance(x, (int, float)) for x in policy):
        raise ValueError("'retry_policy' must be three numbers")
    task = cls(
        task_id=fields["task_id"],
        retries=fields["retries"],
        is_async=fields.get("is_async", fields.get("async", True)),
        on_start=hooks["on_start"],
        on_success=hooks["on_success"],
        on_error=hooks["on_error"],
        depends_on=fields.get("depends_on"),
        delay_until=delay_until,
        retry_delay=policy[0],
        retry_backoff=policy[1],
        retry_max_delay=policy[2],
        retry_jitter=fields.get("retry_jitter", True),
        time_limit=fields.get("time_limit"),
        result_ttl=fields.get("result_ttl"),
        store_result=fields.get("store_result", True),
        # The newer fields only when the payload has them: a task class of a
        # user's own, older than limits and priorities, keeps reading every
        # payload without them.
        **{key: fields[key] for key in _NEWER_FIELDS if key in fields},
    )
    return _with_call(task, fields, version)


def _with_call(task: Task, fields: dict[str, Any], version: object) -> Task:
    """Sets the function's name and arguments from a payload's (type-checked) fields."""
    task.module = fields["module"]
    task.callable = fields["callable"]
    task.func_args = fields.get("args", [])
    task.func_kwargs = fields.get("kwargs", {})
    if version == _payload.TAGGED_VERSION:
        task.func_args, task.func_kwargs = _decode_call(task.func_args, task.func_kwargs)
    return task


def _legacy_options(options: dict[str, Any], hooks: dict[str, Any]) -> Any:
    """Reads the ``"options"`` of a 0.5.0 payload into ``hooks``; returns its ``delay_until``.

    0.5.0 wrote each hook as ``{"module": ..., "callable": ...}``.
    """
    for name in hooks:
        spec = options.get(name)
        if spec is None:
            continue
        if isinstance(spec, dict):
            module, function = spec.get("module"), spec.get("callable")
            if not isinstance(module, str) or not isinstance(function, str):
                raise ValueError(f"options.{name} must name a 'module' and a 'callable'")
            spec = f"{module}:{function}"
        if not isinstance(spec, str):
            raise TypeError(f"options.{name} is a {type(spec).__name__}")
        if hooks[name] is not None and hooks[name] != spec:
            raise ValueError(f"{name} is named twice, differently")
        hooks[name] = spec
    return options.get("delay_until")


def check_arg(value: Any, where: str) -> None:
    """Refuses a value that cannot cross the queue (see :mod:`alligator.values`).

    Raises:
        NotSerializableError: ``value`` cannot be carried; the message
            names it by ``where``, and the type.
    """
    values.encode(value, where)


def _encode_call(
    args: Sequence[Any], kwargs: dict[str, Any], name: str
) -> tuple[Sequence[Any], dict[str, Any]]:
    """A call's arguments as JSON data; the very same objects when no value needed a tag.

    Raises:
        NotSerializableError: An argument cannot be carried; the message
            names it by position or keyword, and the type.
    """
    copied: list[Any] | None = None
    for index, arg in enumerate(args):
        new = values.encode(arg, f"positional argument {index} of {name}()")
        if new is not arg:
            if copied is None:
                copied = list(args)
            copied[index] = new
    encoded_args = args if copied is None else copied
    encoded_kwargs = kwargs
    for key, arg in kwargs.items():
        new = values.encode(arg, f"keyword argument {key!r} of {name}()")
        if new is not arg:
            if encoded_kwargs is kwargs:
                encoded_kwargs = dict(kwargs)
            encoded_kwargs[key] = new
    return encoded_args, encoded_kwargs


def _decode_call(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Reads the arguments of a version 2 payload, which must hold a tagged value."""
    decoded_args = values.decode(args)
    # The keyword arguments' object is the call's, not a value: its keys are names, never a tag.
    decoded_kwargs = {key: values.decode(arg) for key, arg in kwargs.items()}
    if values.identical(decoded_args, args) and values.identical(decoded_kwargs, kwargs):
        # One spelling per call: version 2 is written only when a tag is needed.
        raise ValueError(
            f"payload format version {_payload.TAGGED_VERSION} is written only for arguments "
            "with tagged values, and this payload has none"
        )
    return decoded_args, decoded_kwargs
