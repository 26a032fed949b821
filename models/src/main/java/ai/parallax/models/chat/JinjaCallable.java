package ai.parallax.models.chat;

import java.util.List;
import java.util.Map;

/** Anything a template can call: macros, {@code caller}, global functions and bound Python methods. */
@FunctionalInterface
interface JinjaCallable {
    Object call(List<Object> args, Map<String, Object> kwargs);
}
