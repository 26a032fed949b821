package ai.parallax.models.chat;

import java.util.List;

/** The {@code loop} variable of a for loop: position, length and neighbours of the current item. */
final class LoopContext {
    private final List<Object> items;
    int index0;
    private Object lastChanged = NOTHING;
    private static final Object NOTHING = new Object();

    LoopContext(List<Object> items) {
        this.items = items;
    }

    Object attribute(String name) {
        int length = items.size();
        return switch (name) {
            case "index" -> (long) index0 + 1;
            case "index0" -> (long) index0;
            case "revindex" -> (long) (length - index0);
            case "revindex0" -> (long) (length - index0 - 1);
            case "first" -> index0 == 0;
            case "last" -> index0 == length - 1;
            case "length" -> (long) length;
            case "depth" -> 1L;
            case "depth0" -> 0L;
            case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.because("there is no previous item");
            case "nextitem" -> index0 + 1 < length ? items.get(index0 + 1) : Undefined.because("there is no next item");
            case "cycle" -> (JinjaCallable) (args, kwargs) -> {
                if (args.isEmpty()) throw new TemplateException("loop.cycle() needs at least one value");
                return args.get(index0 % args.size());
            };
            case "changed" -> (JinjaCallable) (args, kwargs) -> {
                Object value = PyTuple.of(args);
                if (lastChanged != NOTHING && PythonValues.equal(lastChanged, value)) return false;
                lastChanged = value;
                return true;
            };
            default -> Undefined.because("'loop' has no attribute '" + name + "'");
        };
    }
}
