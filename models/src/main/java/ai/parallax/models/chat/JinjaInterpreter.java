package ai.parallax.models.chat;

import ai.parallax.models.chat.JinjaNode.*;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Executes a parsed template with Jinja2's runtime semantics as transformers configures it (an immutable sandbox,
 * lenient undefined). Scoping follows Jinja2: {@code if} opens no scope, every for-loop iteration starts a fresh
 * scope over the enclosing one (so a {@code set} inside a loop is gone at the next iteration and after the loop —
 * which is why templates use {@code namespace}), and a macro body runs in a scope over the one it was defined in.
 */
final class JinjaInterpreter {
    private final SourceText source;
    private final JinjaBuiltins builtins;

    JinjaInterpreter(SourceText source, JinjaBuiltins builtins) {
        this.source = source;
        this.builtins = builtins;
        builtins.attach(this);
    }

    /** A variable scope; {@code parent} is null for the globals. */
    static final class Scope {
        private final Map<String, Object> vars = new HashMap<>();
        private final Scope parent;

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                Object v = s.vars.get(name);
                if (v != null || s.vars.containsKey(name)) return v;
            }
            return Undefined.variable(name);
        }

        void set(String name, Object value) {
            vars.put(name, value);
        }
    }

    private enum Flow { NORMAL, BREAK, CONTINUE }

    String render(List<Stmt> body, Map<String, Object> globals) {
        Scope globalScope = new Scope(null);
        globals.forEach(globalScope::set);
        StringBuilder out = new StringBuilder();
        exec(body, new Scope(globalScope), out);
        return out.toString();
    }

    // ---- statements ----

    private Flow exec(List<Stmt> body, Scope scope, StringBuilder out) {
        for (Stmt stmt : body) {
            Flow flow;
            try {
                flow = execOne(stmt, scope, out);
            } catch (TemplateException e) {
                throw locate(e, stmt.at());
            }
            if (flow != Flow.NORMAL) return flow;
        }
        return Flow.NORMAL;
    }

    private TemplateException locate(TemplateException e, int at) {
        return e.located(source.line(at), source.column(at));
    }

    private Flow execOne(Stmt stmt, Scope scope, StringBuilder out) {
        switch (stmt) {
            case Text t -> out.append(t.text());
            case Print p -> out.append(PythonValues.str(eval(p.expr(), scope)));
            case If i -> {
                for (int k = 0; k < i.conditions().size(); k++) {
                    if (PythonValues.isTrue(eval(i.conditions().get(k), scope))) return exec(i.bodies().get(k), scope, out);
                }
                return exec(i.orElse(), scope, out);
            }
            case For f -> execFor(f, scope, out);
            case JinjaNode.Set s -> assign(s.target(), eval(s.value(), scope), scope);
            case SetBlock s -> {
                StringBuilder captured = new StringBuilder();
                exec(s.body(), scope, captured);
                Object value = captured.toString();
                for (FilterCall f : s.filters()) value = applyFilter(f, value, scope);
                assign(s.target(), value, scope);
            }
            case Macro m -> scope.set(m.name(), new MacroValue(m.name(), m.params(), m.defaults(), m.body(), scope));
            case CallBlock c -> {
                MacroValue caller = new MacroValue("caller", c.params(), c.defaults(), c.body(), scope);
                Object callee = eval(c.call().callee(), scope);
                List<Object> args = new ArrayList<>();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                evalArguments(c.call().args(), scope, args, kwargs);
                kwargs.put("caller", caller);
                out.append(PythonValues.str(call(callee, args, kwargs)));
            }
            case FilterBlock f -> {
                StringBuilder captured = new StringBuilder();
                exec(f.body(), scope, captured);
                Object value = captured.toString();
                for (FilterCall filter : f.filters()) value = applyFilter(filter, value, scope);
                out.append(PythonValues.str(value));
            }
            case With w -> {
                Scope inner = new Scope(scope);
                for (int k = 0; k < w.targets().size(); k++) assign(w.targets().get(k), eval(w.values().get(k), scope), inner);
                return exec(w.body(), inner, out);
            }
            case Generation g -> {
                return exec(g.body(), scope, out);
            }
            case Break b -> {
                return Flow.BREAK;
            }
            case Continue c -> {
                return Flow.CONTINUE;
            }
        }
        return Flow.NORMAL;
    }

    private Flow execFor(For f, Scope scope, StringBuilder out) {
        Object iterable = eval(f.iterable(), scope);
        if (iterable == null) throw new TemplateException("'NoneType' object is not iterable");
        List<Object> items = PythonValues.iterate(iterable);
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                Scope probe = new Scope(scope);
                assign(f.target(), item, probe);
                if (PythonValues.isTrue(eval(f.filter(), probe))) kept.add(item);
            }
            items = kept;
        }
        if (items.isEmpty()) return exec(f.orElse(), scope, out);
        LoopContext loop = new LoopContext(items);
        for (int k = 0; k < items.size(); k++) {
            loop.index0 = k;
            Scope iteration = new Scope(scope);
            iteration.set("loop", loop);
            assign(f.target(), items.get(k), iteration);
            if (exec(f.body(), iteration, out) == Flow.BREAK) break;
        }
        return Flow.NORMAL;
    }

    private void assign(Target target, Object value, Scope scope) {
        switch (target) {
            case NameTarget n -> scope.set(n.name(), value);
            case TupleTarget t -> {
                if (value instanceof Undefined u) throw u.failure();
                List<Object> items = PythonValues.iterate(value);
                if (items.size() != t.items().size()) {
                    throw new TemplateException(items.size() > t.items().size()
                            ? "too many values to unpack (expected " + t.items().size() + ")"
                            : "not enough values to unpack (expected " + t.items().size() + ", got " + items.size() + ")");
                }
                for (int k = 0; k < items.size(); k++) assign(t.items().get(k), items.get(k), scope);
            }
            case AttributeTarget a -> {
                Object owner = scope.lookup(a.name());
                if (!(owner instanceof Namespace ns)) {
                    throw new TemplateException("cannot assign attribute '" + a.attribute() + "' on '" + a.name()
                            + "', which is not a namespace");
                }
                ns.attributes.put(a.attribute(), value);
            }
        }
    }

    // ---- expressions ----

    Object eval(Expr expr, Scope scope) {
        try {
            return evalUnlocated(expr, scope);
        } catch (TemplateException e) {
            throw locate(e, expr.at());
        }
    }

    private Object evalUnlocated(Expr expr, Scope scope) {
        return switch (expr) {
            case Const c -> c.value();
            case Name n -> scope.lookup(n.name());
            case ListLiteral l -> {
                List<Object> items = new ArrayList<>(l.items().size());
                for (Expr e : l.items()) items.add(eval(e, scope));
                yield items;
            }
            case TupleLiteral t -> {
                Object[] items = new Object[t.items().size()];
                for (int k = 0; k < items.length; k++) items[k] = eval(t.items().get(k), scope);
                yield new PyTuple(items);
            }
            case DictLiteral d -> {
                Map<Object, Object> map = new LinkedHashMap<>();
                for (int k = 0; k < d.keys().size(); k++) {
                    Object key = eval(d.keys().get(k), scope);
                    if (key instanceof List<?> && !(key instanceof PyTuple) || key instanceof Map<?, ?>) {
                        throw new TemplateException("unhashable type: '" + PythonValues.typeName(key) + "'");
                    }
                    map.put(key, eval(d.values().get(k), scope));
                }
                yield map;
            }
            case Attribute a -> getAttribute(eval(a.object(), scope), a.name());
            case Item i -> getItem(eval(i.object(), scope), eval(i.key(), scope));
            case Slice s -> slice(eval(s.object(), scope), optional(s.start(), scope), optional(s.stop(), scope),
                    optional(s.step(), scope));
            case Call c -> {
                Object callee = eval(c.callee(), scope);
                List<Object> args = new ArrayList<>();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                evalArguments(c.args(), scope, args, kwargs);
                yield call(callee, args, kwargs);
            }
            case Filter f -> applyFilter(f.filter(), eval(f.value(), scope), scope);
            case Test t -> {
                List<Object> args = new ArrayList<>();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                evalArguments(t.args(), scope, args, kwargs);
                boolean result = builtins.test(t.name(), eval(t.value(), scope), args, kwargs);
                yield result != t.negated();
            }
            case Unary u -> {
                Object v = eval(u.operand(), scope);
                if (u.op().equals("-")) yield PythonValues.negate(v);
                if (v instanceof Undefined undefined) throw undefined.failure();
                if (!PythonValues.isNumber(v)) {
                    throw new TemplateException("bad operand type for unary +: '" + PythonValues.typeName(v) + "'");
                }
                yield v instanceof Boolean b ? (Object) (b ? 1L : 0L) : v;
            }
            case Binary b -> {
                Object left = eval(b.left(), scope);
                Object right = eval(b.right(), scope);
                if (b.op().equals("~")) yield PythonValues.str(left) + PythonValues.str(right);
                yield PythonValues.arithmetic(b.op(), left, right);
            }
            case Compare c -> {
                Object left = eval(c.first(), scope);
                for (int k = 0; k < c.ops().size(); k++) {
                    Object right = eval(c.rest().get(k), scope);
                    if (!compare(c.ops().get(k), left, right)) yield false;
                    left = right;
                }
                yield true;
            }
            case And a -> {
                Object left = eval(a.left(), scope);
                yield PythonValues.isTrue(left) ? eval(a.right(), scope) : left;
            }
            case Or o -> {
                Object left = eval(o.left(), scope);
                yield PythonValues.isTrue(left) ? left : eval(o.right(), scope);
            }
            case Not n -> !PythonValues.isTrue(eval(n.operand(), scope));
            case Conditional c -> {
                if (PythonValues.isTrue(eval(c.condition(), scope))) yield eval(c.then(), scope);
                yield c.otherwise() == null
                        ? Undefined.because("the inline if-expression on line " + source.line(c.at())
                                + " evaluated to false and no else section was defined.")
                        : eval(c.otherwise(), scope);
            }
        };
    }

    private Object optional(Expr e, Scope scope) {
        return e == null ? null : eval(e, scope);
    }

    private void evalArguments(Arguments a, Scope scope, List<Object> args, Map<String, Object> kwargs) {
        for (Expr e : a.positional()) args.add(eval(e, scope));
        for (int k = 0; k < a.keywordNames().size(); k++) kwargs.put(a.keywordNames().get(k), eval(a.keywordValues().get(k), scope));
    }

    private Object applyFilter(FilterCall f, Object value, Scope scope) {
        List<Object> args = new ArrayList<>();
        Map<String, Object> kwargs = new LinkedHashMap<>();
        evalArguments(f.args(), scope, args, kwargs);
        try {
            return builtins.filter(f.name(), value, args, kwargs);
        } catch (TemplateException e) {
            throw locate(e, f.at());
        }
    }

    private static boolean compare(String op, Object left, Object right) {
        return switch (op) {
            case "==" -> PythonValues.equal(left, right);
            case "!=" -> !PythonValues.equal(left, right);
            case "in" -> PythonValues.contains(right, left);
            case "not in" -> !PythonValues.contains(right, left);
            default -> {
                int c = PythonValues.compare(left, right, op);
                if (c == 2) yield false; // NaN compares false with everything
                yield switch (op) {
                    case "<" -> c < 0;
                    case "<=" -> c <= 0;
                    case ">" -> c > 0;
                    default -> c >= 0;
                };
            }
        };
    }

    Object call(Object callee, List<Object> args, Map<String, Object> kwargs) {
        if (callee instanceof JinjaCallable c) return c.call(args, kwargs);
        if (callee instanceof Undefined u) throw u.failure();
        throw new TemplateException("'" + PythonValues.typeName(callee) + "' object is not callable");
    }

    // ---- attribute and item access (Jinja's sandboxed getattr/getitem) ----

    private static final Set<String> STR_METHODS = Set.of("capitalize", "casefold", "center", "count", "encode",
            "endswith", "expandtabs", "find", "format", "format_map", "index", "isalnum", "isalpha", "isascii",
            "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
            "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
            "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
            "swapcase", "title", "translate", "upper", "zfill");
    private static final Set<String> DICT_METHODS = Set.of("copy", "get", "items", "keys", "values");
    private static final Set<String> DICT_MUTATORS = Set.of("clear", "pop", "popitem", "setdefault", "update");
    private static final Set<String> LIST_METHODS = Set.of("copy", "count", "index");
    private static final Set<String> LIST_MUTATORS = Set.of("append", "clear", "extend", "insert", "pop", "remove",
            "reverse", "sort");

    /** {@code obj.name}: Python attribute first (methods), then item; missing gives undefined. */
    Object getAttribute(Object obj, String name) {
        if (obj instanceof Undefined u) throw u.failure();
        if (name.startsWith("_")) return Undefined.missingAttribute(obj, name);
        switch (obj) {
            case Namespace ns -> {
                return ns.attributes.containsKey(name) ? ns.attributes.get(name) : Undefined.missingAttribute(obj, name);
            }
            case LoopContext loop -> {
                return loop.attribute(name);
            }
            case Map<?, ?> map -> {
                if (DICT_METHODS.contains(name)) return boundMethod(obj, name);
                if (DICT_MUTATORS.contains(name)) return unsafe(obj, name);
                return PythonValues.lookup(map, name, Undefined.missingAttribute(obj, name));
            }
            case String s -> {
                if (STR_METHODS.contains(name)) return boundMethod(obj, name);
            }
            case List<?> list -> {
                if (LIST_METHODS.contains(name)) return boundMethod(obj, name);
                if (LIST_MUTATORS.contains(name) && !(obj instanceof PyTuple)) return unsafe(obj, name);
            }
            case null, default -> { }
        }
        return Undefined.missingAttribute(obj, name);
    }

    /** {@code obj[key]}: item first, then (for a str key) attribute; missing gives undefined. */
    Object getItem(Object obj, Object key) {
        if (obj instanceof Undefined u) throw u.failure();
        if (key instanceof Undefined u && !(obj instanceof Map)) throw u.failure();
        switch (obj) {
            case Map<?, ?> map -> {
                Object missing = new Object();
                Object v = PythonValues.lookup(map, key, missing);
                if (v != missing) return v;
            }
            case List<?> list when PythonValues.isInteger(key) -> {
                long i = PythonValues.toLong(key);
                if (i < 0) i += list.size();
                if (i >= 0 && i < list.size()) return list.get((int) i);
                return Undefined.because(PythonValues.objectDescription(obj) + " has no element " + PythonValues.str(key));
            }
            case String s when PythonValues.isInteger(key) -> {
                long i = PythonValues.toLong(key);
                int length = s.codePointCount(0, s.length());
                if (i < 0) i += length;
                if (i >= 0 && i < length) {
                    int offset = s.offsetByCodePoints(0, (int) i);
                    return Character.toString(s.codePointAt(offset));
                }
                return Undefined.because("str object has no element " + PythonValues.str(key));
            }
            case Namespace ns when key instanceof String name -> {
                return getAttribute(ns, name);
            }
            case LoopContext loop when key instanceof String name -> {
                return loop.attribute(name);
            }
            case null, default -> { }
        }
        if (key instanceof String name && !(obj instanceof Map)) return getAttribute(obj, name);
        if (key instanceof String name) {
            if (DICT_METHODS.contains(name)) return boundMethod(obj, name);
            if (DICT_MUTATORS.contains(name)) return unsafe(obj, name);
        }
        return Undefined.missingAttribute(obj, key);
    }

    private static Object unsafe(Object obj, String name) {
        return Undefined.because("access to attribute '" + name + "' of '" + PythonValues.typeName(obj)
                + "' object is unsafe (transformers renders chat templates in an immutable sandbox)");
    }

    private JinjaCallable boundMethod(Object self, String name) {
        return (args, kwargs) -> callMethod(self, name, args, kwargs);
    }

    private Object callMethod(Object self, String name, List<Object> args, Map<String, Object> kwargs) {
        if (self instanceof String s) return PythonStrings.call(s, name, args, kwargs);
        MethodArgs a = new MethodArgs(PythonValues.typeName(self) + "." + name, args, kwargs);
        if (self instanceof Map<?, ?> map) {
            return switch (name) {
                case "items" -> {
                    List<Object> items = new ArrayList<>(map.size());
                    for (Map.Entry<?, ?> e : map.entrySet()) items.add(new PyTuple(e.getKey(), e.getValue()));
                    yield a.none(items);
                }
                case "keys" -> a.none(new ArrayList<Object>(map.keySet()));
                case "values" -> a.none(new ArrayList<Object>(map.values()));
                case "copy" -> a.none(new LinkedHashMap<Object, Object>(map));
                case "get" -> {
                    Object key = a.required(0, "key");
                    Object fallback = a.optional(1, "default", null);
                    a.done(2);
                    yield PythonValues.lookup(map, key, fallback);
                }
                default -> throw new TemplateException("dict method '" + name + "' is not supported");
            };
        }
        List<?> list = (List<?>) self;
        return switch (name) {
            case "copy" -> a.none(new ArrayList<Object>(list));
            case "count" -> {
                Object x = a.required(0, "value");
                a.done(1);
                long n = 0;
                for (Object item : list) if (PythonValues.equal(item, x)) n++;
                yield n;
            }
            case "index" -> {
                Object x = a.required(0, "value");
                a.done(1);
                for (int k = 0; k < list.size(); k++) if (PythonValues.equal(list.get(k), x)) yield (long) k;
                throw new TemplateException(PythonValues.repr(x) + " is not in list");
            }
            default -> throw new TemplateException("list method '" + name + "' is not supported");
        };
    }

    /** Python slicing {@code obj[start:stop:step]} of lists, tuples and strings (by code point). */
    static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) throw u.failure();
        List<Object> items;
        if (obj instanceof String s) items = PythonStrings.characters(s);
        else if (obj instanceof List<?> l) items = new ArrayList<>(l);
        else return Undefined.because("'" + PythonValues.typeName(obj) + "' object is not subscriptable");
        int n = items.size();
        int st = step == null ? 1 : PythonValues.toIndex(step, "slice step");
        if (st == 0) throw new TemplateException("slice step cannot be zero");
        int lower = st > 0 ? 0 : -1;
        int upper = st > 0 ? n : n - 1;
        int from = start == null ? (st > 0 ? lower : upper) : clampSliceIndex(start, n, lower, upper);
        int to = stop == null ? (st > 0 ? upper : lower) : clampSliceIndex(stop, n, lower, upper);
        List<Object> out = new ArrayList<>();
        for (int k = from; st > 0 ? k < to : k > to; k += st) out.add(items.get(k));
        if (obj instanceof String) {
            StringBuilder sb = new StringBuilder();
            for (Object c : out) sb.append((String) c);
            return sb.toString();
        }
        return obj instanceof PyTuple ? PyTuple.of(out) : out;
    }

    private static int clampSliceIndex(Object index, int n, int lower, int upper) {
        long i = PythonValues.toIndex(index, "slice index");
        if (i < 0) i += n;
        if (i < lower) return lower;
        return (int) Math.min(i, upper);
    }

    // ---- macros ----

    /** A macro (or a call block's {@code caller}) closed over the scope it was defined in. */
    private final class MacroValue implements JinjaCallable {
        private final String name;
        private final List<String> params;
        private final List<Expr> defaults;
        private final List<Stmt> body;
        private final Scope definedIn;

        MacroValue(String name, List<String> params, List<Expr> defaults, List<Stmt> body, Scope definedIn) {
            this.name = name;
            this.params = params;
            this.defaults = defaults;
            this.body = body;
            this.definedIn = definedIn;
        }

        @Override
        public Object call(List<Object> args, Map<String, Object> kwargs) {
            Scope scope = new Scope(definedIn);
            Map<String, Object> extraKwargs = new LinkedHashMap<>(kwargs);
            int firstDefault = params.size() - defaults.size();
            for (int k = 0; k < params.size(); k++) {
                String param = params.get(k);
                Object value;
                if (k < args.size()) {
                    if (extraKwargs.containsKey(param)) {
                        throw new TemplateException("macro '" + name + "' got multiple values for argument '" + param + "'");
                    }
                    value = args.get(k);
                } else if (extraKwargs.containsKey(param)) {
                    value = extraKwargs.remove(param);
                } else if (k >= firstDefault) {
                    value = eval(defaults.get(k - firstDefault), scope);
                } else {
                    value = Undefined.because("parameter '" + param + "' was not provided");
                }
                scope.set(param, value);
            }
            Object caller = extraKwargs.remove("caller");
            if (caller != null) scope.set("caller", caller);
            List<Object> varargs = args.size() > params.size() ? new ArrayList<>(args.subList(params.size(), args.size()))
                    : new ArrayList<>();
            scope.set("varargs", PyTuple.of(varargs));
            scope.set("kwargs", new LinkedHashMap<Object, Object>(extraKwargs));
            StringBuilder out = new StringBuilder();
            exec(body, scope, out);
            return out.toString();
        }
    }
}
