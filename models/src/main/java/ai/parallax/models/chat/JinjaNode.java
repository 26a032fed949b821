package ai.parallax.models.chat;

import java.util.List;

/** The syntax tree of a template. Every node keeps {@code at}, its offset in the source, for error locations. */
sealed interface JinjaNode {
    int at();

    // ---- statements ----

    sealed interface Stmt extends JinjaNode { }

    record Text(int at, String text) implements Stmt { }

    record Print(int at, Expr expr) implements Stmt { }

    record If(int at, List<Expr> conditions, List<List<Stmt>> bodies, List<Stmt> orElse) implements Stmt { }

    record For(int at, Target target, Expr iterable, Expr filter, List<Stmt> body, List<Stmt> orElse) implements Stmt { }

    record Set(int at, Target target, Expr value) implements Stmt { }

    record SetBlock(int at, Target target, List<FilterCall> filters, List<Stmt> body) implements Stmt { }

    record Macro(int at, String name, List<String> params, List<Expr> defaults, List<Stmt> body) implements Stmt { }

    record CallBlock(int at, Call call, List<String> params, List<Expr> defaults, List<Stmt> body) implements Stmt { }

    record FilterBlock(int at, List<FilterCall> filters, List<Stmt> body) implements Stmt { }

    record With(int at, List<Target> targets, List<Expr> values, List<Stmt> body) implements Stmt { }

    /** transformers' {@code {% generation %}} marks assistant text for masks; rendering just emits the body. */
    record Generation(int at, List<Stmt> body) implements Stmt { }

    record Break(int at) implements Stmt { }

    record Continue(int at) implements Stmt { }

    // ---- assignment targets ----

    sealed interface Target extends JinjaNode { }

    record NameTarget(int at, String name) implements Target { }

    record TupleTarget(int at, List<Target> items) implements Target { }

    record AttributeTarget(int at, String name, String attribute) implements Target { }

    // ---- expressions ----

    sealed interface Expr extends JinjaNode { }

    record Const(int at, Object value) implements Expr { }

    record Name(int at, String name) implements Expr { }

    record ListLiteral(int at, List<Expr> items) implements Expr { }

    record TupleLiteral(int at, List<Expr> items) implements Expr { }

    record DictLiteral(int at, List<Expr> keys, List<Expr> values) implements Expr { }

    record Attribute(int at, Expr object, String name) implements Expr { }

    record Item(int at, Expr object, Expr key) implements Expr { }

    record Slice(int at, Expr object, Expr start, Expr stop, Expr step) implements Expr { }

    record Call(int at, Expr callee, Arguments args) implements Expr { }

    record Filter(int at, Expr value, FilterCall filter) implements Expr { }

    record Test(int at, Expr value, String name, Arguments args, boolean negated) implements Expr { }

    record Unary(int at, String op, Expr operand) implements Expr { }

    record Binary(int at, String op, Expr left, Expr right) implements Expr { }

    /** A chain {@code a < b <= c} evaluated like Python: pairwise, stopping at the first false comparison. */
    record Compare(int at, Expr first, List<String> ops, List<Expr> rest) implements Expr { }

    record And(int at, Expr left, Expr right) implements Expr { }

    record Or(int at, Expr left, Expr right) implements Expr { }

    record Not(int at, Expr operand) implements Expr { }

    /** {@code then if condition else otherwise}; a missing else yields undefined. */
    record Conditional(int at, Expr condition, Expr then, Expr otherwise) implements Expr { }

    // ---- helpers ----

    record Arguments(List<Expr> positional, List<String> keywordNames, List<Expr> keywordValues) {
        static final Arguments NONE = new Arguments(List.of(), List.of(), List.of());
    }

    record FilterCall(int at, String name, Arguments args) { }
}
