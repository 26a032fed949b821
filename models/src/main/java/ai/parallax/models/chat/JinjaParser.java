package ai.parallax.models.chat;

import ai.parallax.models.chat.JinjaNode.*;
import ai.parallax.models.chat.JinjaToken.Kind;
import java.util.ArrayList;
import java.util.List;

/**
 * Recursive-descent parser from tokens to {@link JinjaNode}s, following the grammar and operator precedence of
 * Jinja2's parser: conditional, or, and, not, comparisons, {@code + -}, {@code ~}, {@code * / // %}, {@code **},
 * unary minus, then postfix access, calls, filters and tests. Filters bind tighter than every binary operator, so
 * {@code messages|length - 1} is {@code (messages|length) - 1}.
 */
final class JinjaParser {
    private final SourceText source;
    private final List<JinjaToken> tokens;
    private int index;
    private int loopDepth;

    private JinjaParser(SourceText source, List<JinjaToken> tokens) {
        this.source = source;
        this.tokens = tokens;
    }

    static List<Stmt> parse(SourceText source) {
        JinjaParser parser = new JinjaParser(source, JinjaLexer.tokenize(source));
        List<Stmt> body = parser.parseBody(List.of(), null);
        if (parser.current().kind() != Kind.EOF) {
            throw parser.error(parser.current(), "unexpected " + parser.current().describe());
        }
        return body;
    }

    // ---- token stream ----

    private JinjaToken current() {
        return tokens.get(index);
    }

    private JinjaToken peek(int ahead) {
        return tokens.get(Math.min(index + ahead, tokens.size() - 1));
    }

    private JinjaToken next() {
        JinjaToken t = tokens.get(index);
        if (t.kind() != Kind.EOF) index++;
        return t;
    }

    private TemplateException error(JinjaToken at, String detail) {
        return source.error(at.offset(), detail);
    }

    private JinjaToken expectOperator(String op) {
        JinjaToken t = current();
        if (!t.isOperator(op)) throw error(t, "expected '" + op + "', got " + t.describe());
        return next();
    }

    private JinjaToken expectKind(Kind kind, String what) {
        JinjaToken t = current();
        if (t.kind() != kind) throw error(t, "expected " + what + ", got " + t.describe());
        return next();
    }

    private String expectName() {
        return expectKind(Kind.NAME, "a name").text();
    }

    private void expectBlockEnd() {
        expectKind(Kind.BLOCK_END, "end of block tag '%}'");
    }

    private boolean skipOperator(String op) {
        if (current().isOperator(op)) {
            next();
            return true;
        }
        return false;
    }

    private boolean skipName(String name) {
        if (current().isName(name)) {
            next();
            return true;
        }
        return false;
    }

    // ---- statements ----

    /**
     * Parses template content until a block tag whose name is in {@code endNames}; leaves the stream on that name
     * (the {@code {%} consumed). {@code openedBy} names the enclosing tag for the error when the template ends first.
     */
    private List<Stmt> parseBody(List<String> endNames, JinjaToken openedBy) {
        List<Stmt> body = new ArrayList<>();
        while (true) {
            JinjaToken t = current();
            switch (t.kind()) {
                case EOF -> {
                    if (openedBy == null) return body;
                    throw error(openedBy, "unexpected end of template: the '" + openedBy.text()
                            + "' block opened here was never closed (looking for " + quoteAll(endNames) + ")");
                }
                case TEXT -> body.add(new Text(next().offset(), t.text()));
                case VARIABLE_BEGIN -> {
                    next();
                    Expr expr = parseTuple(false, true, List.of(), false);
                    expectKind(Kind.VARIABLE_END, "end of print statement '}}'");
                    body.add(new Print(t.offset(), expr));
                }
                case BLOCK_BEGIN -> {
                    next();
                    JinjaToken name = current();
                    if (name.kind() != Kind.NAME) throw error(name, "expected a tag name, got " + name.describe());
                    if (endNames.contains(name.text())) return body;
                    body.add(parseStatement());
                }
                default -> throw error(t, "unexpected " + t.describe());
            }
        }
    }

    private static String quoteAll(List<String> names) {
        return String.join(" or ", names.stream().map(n -> "'" + n + "'").toList());
    }

    private Stmt parseStatement() {
        JinjaToken tag = next();
        return switch (tag.text()) {
            case "if" -> parseIf(tag);
            case "for" -> parseFor(tag);
            case "set" -> parseSet(tag);
            case "macro" -> parseMacro(tag);
            case "call" -> parseCallBlock(tag);
            case "filter" -> parseFilterBlock(tag);
            case "with" -> parseWith(tag);
            case "generation" -> {
                expectBlockEnd();
                List<Stmt> body = parseBody(List.of("endgeneration"), tag);
                endTag();
                yield new Generation(tag.offset(), body);
            }
            case "break", "continue" -> {
                if (loopDepth == 0) throw error(tag, "'" + tag.text() + "' outside of a for loop");
                expectBlockEnd();
                yield tag.text().equals("break") ? new Break(tag.offset()) : new Continue(tag.offset());
            }
            case "include", "import", "from", "extends", "block", "do", "autoescape", "trans" ->
                throw error(tag, "tag '" + tag.text() + "' is not supported by this chat-template interpreter"
                        + ("do".equals(tag.text()) ? " (transformers does not enable the 'do' extension either)" : ""));
            default -> throw error(tag, "unknown tag '" + tag.text() + "'");
        };
    }

    /** Consumes the end tag's name (already current) and the closing {@code %}}. */
    private void endTag() {
        next();
        expectBlockEnd();
    }

    private Stmt parseIf(JinjaToken tag) {
        List<Expr> conditions = new ArrayList<>();
        List<List<Stmt>> bodies = new ArrayList<>();
        List<Stmt> orElse = List.of();
        conditions.add(parseTuple(false, false, List.of(), false));
        expectBlockEnd();
        while (true) {
            bodies.add(parseBody(List.of("elif", "else", "endif"), tag));
            String end = next().text();
            if (end.equals("elif")) {
                conditions.add(parseTuple(false, false, List.of(), false));
                expectBlockEnd();
            } else if (end.equals("else")) {
                expectBlockEnd();
                orElse = parseBody(List.of("endif"), tag);
                endTag();
                break;
            } else {
                expectBlockEnd();
                break;
            }
        }
        return new If(tag.offset(), conditions, bodies, orElse);
    }

    private Stmt parseFor(JinjaToken tag) {
        Target target = parseAssignTarget(List.of("in"), false);
        if (!skipName("in")) throw error(current(), "expected 'in' in for loop, got " + current().describe());
        Expr iterable = parseTuple(false, false, List.of("recursive"), false);
        Expr filter = null;
        if (skipName("if")) filter = parseExpression(true);
        if (current().isName("recursive")) throw error(current(), "recursive for loops are not supported");
        expectBlockEnd();
        loopDepth++;
        List<Stmt> body = parseBody(List.of("endfor", "else"), tag);
        loopDepth--;
        List<Stmt> orElse = List.of();
        if (next().text().equals("else")) {
            expectBlockEnd();
            orElse = parseBody(List.of("endfor"), tag);
            endTag();
        } else {
            expectBlockEnd();
        }
        return new For(tag.offset(), target, iterable, filter, body, orElse);
    }

    private Stmt parseSet(JinjaToken tag) {
        Target target = parseAssignTarget(List.of(), true);
        if (skipOperator("=")) {
            Expr value = parseTuple(false, true, List.of(), false);
            expectBlockEnd();
            return new Set(tag.offset(), target, value);
        }
        List<FilterCall> filters = new ArrayList<>();
        while (skipOperator("|")) filters.add(parseFilterCall());
        expectBlockEnd();
        List<Stmt> body = parseBody(List.of("endset"), tag);
        endTag();
        return new SetBlock(tag.offset(), target, filters, body);
    }

    private Stmt parseMacro(JinjaToken tag) {
        String name = expectName();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        parseSignature(params, defaults);
        expectBlockEnd();
        int savedLoopDepth = loopDepth;
        loopDepth = 0;
        List<Stmt> body = parseBody(List.of("endmacro"), tag);
        loopDepth = savedLoopDepth;
        endTag();
        return new Macro(tag.offset(), name, params, defaults, body);
    }

    /** {@code (a, b, c=default)}; defaults are right-aligned as in Python, so {@code defaults} may be shorter. */
    private void parseSignature(List<String> params, List<Expr> defaults) {
        expectOperator("(");
        while (!current().isOperator(")")) {
            if (!params.isEmpty()) expectOperator(",");
            JinjaToken name = expectKind(Kind.NAME, "a parameter name");
            params.add(name.text());
            if (skipOperator("=")) {
                defaults.add(parseExpression(true));
            } else if (!defaults.isEmpty()) {
                throw error(name, "parameter '" + name.text() + "' without a default follows one with a default");
            }
        }
        expectOperator(")");
    }

    private Stmt parseCallBlock(JinjaToken tag) {
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        if (current().isOperator("(")) parseSignature(params, defaults);
        Expr call = parseExpression(true);
        if (!(call instanceof Call c)) throw error(tag, "expected a macro call after 'call'");
        expectBlockEnd();
        List<Stmt> body = parseBody(List.of("endcall"), tag);
        endTag();
        return new CallBlock(tag.offset(), c, params, defaults, body);
    }

    private Stmt parseFilterBlock(JinjaToken tag) {
        List<FilterCall> filters = new ArrayList<>();
        filters.add(parseFilterCall());
        while (skipOperator("|")) filters.add(parseFilterCall());
        expectBlockEnd();
        List<Stmt> body = parseBody(List.of("endfilter"), tag);
        endTag();
        return new FilterBlock(tag.offset(), filters, body);
    }

    private Stmt parseWith(JinjaToken tag) {
        List<Target> targets = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (current().kind() != Kind.BLOCK_END) {
            if (!targets.isEmpty()) expectOperator(",");
            targets.add(parseAssignTarget(List.of(), false));
            expectOperator("=");
            values.add(parseExpression(true));
        }
        expectBlockEnd();
        List<Stmt> body = parseBody(List.of("endwith"), tag);
        endTag();
        return new With(tag.offset(), targets, values, body);
    }

    private Target parseAssignTarget(List<String> extraEndRules, boolean withNamespace) {
        JinjaToken start = current();
        if (withNamespace && start.kind() == Kind.NAME && peek(1).isOperator(".")) {
            next();
            next();
            String attribute = expectName();
            return new AttributeTarget(start.offset(), start.text(), attribute);
        }
        Expr expr = parseTuple(true, false, extraEndRules, false);
        return toTarget(expr);
    }

    private Target toTarget(Expr expr) {
        if (expr instanceof Name n) {
            if (List.of("true", "false", "none", "True", "False", "None").contains(n.name())) {
                throw source.error(n.at(), "cannot assign to '" + n.name() + "'");
            }
            return new NameTarget(n.at(), n.name());
        }
        if (expr instanceof TupleLiteral t) {
            List<Target> items = new ArrayList<>();
            for (Expr item : t.items()) items.add(toTarget(item));
            return new TupleTarget(t.at(), items);
        }
        throw source.error(expr.at(), "cannot assign to this expression");
    }

    // ---- expressions ----

    /**
     * Jinja's {@code parse_tuple}: one expression, or a tuple when commas separate several. {@code simplified}
     * parses only primaries (for assignment targets).
     */
    private Expr parseTuple(boolean simplified, boolean withConditional, List<String> extraEndRules,
                            boolean explicitParentheses) {
        int at = current().offset();
        List<Expr> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) expectOperator(",");
            if (isTupleEnd(extraEndRules)) break;
            items.add(simplified ? parsePrimary() : parseExpression(withConditional));
            if (current().isOperator(",")) isTuple = true;
            else break;
        }
        if (!isTuple) {
            if (!items.isEmpty()) return items.getFirst();
            if (!explicitParentheses) throw error(current(), "expected an expression, got " + current().describe());
        }
        return new TupleLiteral(at, items);
    }

    private boolean isTupleEnd(List<String> extraEndRules) {
        JinjaToken t = current();
        return switch (t.kind()) {
            case VARIABLE_END, BLOCK_END, EOF -> true;
            case OPERATOR -> t.text().equals(")");
            case NAME -> extraEndRules.contains(t.text());
            default -> false;
        };
    }

    private Expr parseExpression(boolean withConditional) {
        return withConditional ? parseConditional() : parseOr();
    }

    private Expr parseConditional() {
        Expr expr = parseOr();
        while (current().isName("if")) {
            int at = next().offset();
            Expr condition = parseOr();
            Expr otherwise = skipName("else") ? parseConditional() : null;
            expr = new Conditional(at, condition, expr, otherwise);
        }
        return expr;
    }

    private Expr parseOr() {
        Expr left = parseAnd();
        while (current().isName("or")) {
            int at = next().offset();
            left = new Or(at, left, parseAnd());
        }
        return left;
    }

    private Expr parseAnd() {
        Expr left = parseNot();
        while (current().isName("and")) {
            int at = next().offset();
            left = new And(at, left, parseNot());
        }
        return left;
    }

    private Expr parseNot() {
        if (current().isName("not")) {
            int at = next().offset();
            return new Not(at, parseNot());
        }
        return parseCompare();
    }

    private Expr parseCompare() {
        int at = current().offset();
        Expr first = parseMath1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            JinjaToken t = current();
            String op;
            if (t.kind() == Kind.OPERATOR && List.of("==", "!=", "<", "<=", ">", ">=").contains(t.text())) {
                op = next().text();
            } else if (t.isName("in")) {
                next();
                op = "in";
            } else if (t.isName("not") && peek(1).isName("in")) {
                next();
                next();
                op = "not in";
            } else {
                break;
            }
            ops.add(op);
            rest.add(parseMath1());
        }
        return ops.isEmpty() ? first : new Compare(at, first, ops, rest);
    }

    private Expr parseMath1() {
        Expr left = parseConcat();
        while (current().isOperator("+") || current().isOperator("-")) {
            JinjaToken op = next();
            left = new Binary(op.offset(), op.text(), left, parseConcat());
        }
        return left;
    }

    private Expr parseConcat() {
        Expr left = parseMath2();
        while (current().isOperator("~")) {
            JinjaToken op = next();
            left = new Binary(op.offset(), "~", left, parseMath2());
        }
        return left;
    }

    private Expr parseMath2() {
        Expr left = parsePow();
        while (current().kind() == Kind.OPERATOR && List.of("*", "/", "//", "%").contains(current().text())) {
            JinjaToken op = next();
            left = new Binary(op.offset(), op.text(), left, parsePow());
        }
        return left;
    }

    private Expr parsePow() {
        Expr left = parseUnary(true);
        while (current().isOperator("**")) {
            JinjaToken op = next();
            left = new Binary(op.offset(), "**", left, parseUnary(true));
        }
        return left;
    }

    private Expr parseUnary(boolean withFilter) {
        JinjaToken t = current();
        Expr node;
        if (t.isOperator("-") || t.isOperator("+")) {
            next();
            node = new Unary(t.offset(), t.text(), parseUnary(false));
        } else {
            node = parsePrimary();
        }
        node = parsePostfix(node);
        if (withFilter) node = parseFilterExpression(node);
        return node;
    }

    private Expr parsePrimary() {
        JinjaToken t = current();
        switch (t.kind()) {
            case NAME -> {
                next();
                return switch (t.text()) {
                    case "true", "True" -> new Const(t.offset(), Boolean.TRUE);
                    case "false", "False" -> new Const(t.offset(), Boolean.FALSE);
                    case "none", "None" -> new Const(t.offset(), null);
                    default -> new Name(t.offset(), t.text());
                };
            }
            case STRING -> {
                StringBuilder s = new StringBuilder();
                while (current().kind() == Kind.STRING) s.append((String) next().value());
                return new Const(t.offset(), s.toString());
            }
            case INTEGER, FLOAT -> {
                next();
                return new Const(t.offset(), t.value());
            }
            case OPERATOR -> {
                switch (t.text()) {
                    case "(" -> {
                        next();
                        Expr expr = parseTuple(false, true, List.of(), true);
                        expectOperator(")");
                        return expr;
                    }
                    case "[" -> {
                        next();
                        List<Expr> items = new ArrayList<>();
                        while (!current().isOperator("]")) {
                            if (!items.isEmpty()) expectOperator(",");
                            if (current().isOperator("]")) break;
                            items.add(parseExpression(true));
                        }
                        expectOperator("]");
                        return new ListLiteral(t.offset(), items);
                    }
                    case "{" -> {
                        next();
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!current().isOperator("}")) {
                            if (!keys.isEmpty()) expectOperator(",");
                            if (current().isOperator("}")) break;
                            keys.add(parseExpression(true));
                            expectOperator(":");
                            values.add(parseExpression(true));
                        }
                        expectOperator("}");
                        return new DictLiteral(t.offset(), keys, values);
                    }
                    default -> { }
                }
            }
            default -> { }
        }
        throw error(t, "unexpected " + t.describe());
    }

    private Expr parsePostfix(Expr node) {
        while (true) {
            JinjaToken t = current();
            if (t.isOperator(".") || t.isOperator("[")) {
                node = parseSubscript(node);
            } else if (t.isOperator("(")) {
                node = new Call(t.offset(), node, parseCallArguments());
            } else {
                return node;
            }
        }
    }

    private Expr parseFilterExpression(Expr node) {
        while (true) {
            JinjaToken t = current();
            if (t.isOperator("|")) {
                next();
                node = new Filter(t.offset(), node, parseFilterCall());
            } else if (t.isName("is")) {
                next();
                node = parseTest(t, node);
            } else if (t.isOperator("(")) {
                node = new Call(t.offset(), node, parseCallArguments());
            } else {
                return node;
            }
        }
    }

    private Expr parseSubscript(Expr node) {
        JinjaToken t = next();
        if (t.isOperator(".")) {
            JinjaToken attr = next();
            if (attr.kind() == Kind.NAME) return new Attribute(attr.offset(), node, attr.text());
            if (attr.kind() == Kind.INTEGER) return new Item(attr.offset(), node, new Const(attr.offset(), attr.value()));
            throw error(attr, "expected an attribute name after '.', got " + attr.describe());
        }
        List<Expr> args = new ArrayList<>();
        List<Expr[]> slices = new ArrayList<>();
        while (!current().isOperator("]")) {
            if (!args.isEmpty() || !slices.isEmpty()) expectOperator(",");
            Expr[] slice = new Expr[3];
            Expr plain = parseSubscribed(slice);
            if (plain != null) args.add(plain);
            else slices.add(slice);
        }
        expectOperator("]");
        if (slices.size() == 1 && args.isEmpty()) {
            Expr[] s = slices.getFirst();
            return new Slice(t.offset(), node, s[0], s[1], s[2]);
        }
        if (!slices.isEmpty()) throw error(t, "multi-dimensional slices are not supported");
        if (args.isEmpty()) throw error(t, "expected an index inside '[]'");
        Expr key = args.size() == 1 ? args.getFirst() : new TupleLiteral(t.offset(), args);
        return new Item(t.offset(), node, key);
    }

    /** One subscript: returns the expression, or null after filling {@code slice} with start, stop, step. */
    private Expr parseSubscribed(Expr[] slice) {
        if (current().isOperator(":")) {
            next();
        } else {
            Expr node = parseExpression(true);
            if (!current().isOperator(":")) return node;
            next();
            slice[0] = node;
        }
        if (!current().isOperator(":") && !current().isOperator("]") && !current().isOperator(",")) {
            slice[1] = parseExpression(true);
        }
        if (skipOperator(":")) {
            if (!current().isOperator("]") && !current().isOperator(",")) slice[2] = parseExpression(true);
        }
        return null;
    }

    private Arguments parseCallArguments() {
        expectOperator("(");
        List<Expr> positional = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!current().isOperator(")")) {
            if (!positional.isEmpty() || !names.isEmpty()) {
                expectOperator(",");
                if (current().isOperator(")")) break;
            }
            JinjaToken t = current();
            if (t.isOperator("*") || t.isOperator("**")) {
                throw error(t, "'" + t.text() + "' argument unpacking is not supported");
            }
            if (t.kind() == Kind.NAME && peek(1).isOperator("=")) {
                next();
                next();
                names.add(t.text());
                values.add(parseExpression(true));
            } else {
                if (!names.isEmpty()) throw error(t, "positional argument follows keyword argument");
                positional.add(parseExpression(true));
            }
        }
        expectOperator(")");
        return new Arguments(positional, names, values);
    }

    private FilterCall parseFilterCall() {
        JinjaToken name = expectKind(Kind.NAME, "a filter name");
        String fullName = name.text();
        while (current().isOperator(".")) {
            next();
            fullName += "." + expectName();
        }
        Arguments args = current().isOperator("(") ? parseCallArguments() : Arguments.NONE;
        return new FilterCall(name.offset(), fullName, args);
    }

    private Expr parseTest(JinjaToken isToken, Expr node) {
        boolean negated = skipName("not");
        JinjaToken name = expectKind(Kind.NAME, "a test name");
        String fullName = name.text();
        while (current().isOperator(".")) {
            next();
            fullName += "." + expectName();
        }
        Arguments args;
        JinjaToken t = current();
        if (t.isOperator("(")) {
            args = parseCallArguments();
        } else if ((t.kind() == Kind.NAME || t.kind() == Kind.STRING || t.kind() == Kind.INTEGER
                || t.kind() == Kind.FLOAT || t.isOperator("[") || t.isOperator("{"))
                && !(t.isName("else") || t.isName("or") || t.isName("and"))) {
            if (t.isName("is")) throw error(t, "tests cannot be chained with 'is'");
            Expr arg = parsePostfix(parsePrimary());
            args = new Arguments(List.of(arg), List.of(), List.of());
        } else {
            args = Arguments.NONE;
        }
        return new Test(name.offset(), node, fullName, args, negated);
    }
}
