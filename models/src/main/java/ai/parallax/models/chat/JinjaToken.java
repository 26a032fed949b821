package ai.parallax.models.chat;

/**
 * One lexical token of a template. {@code value} is the decoded literal for STRING, INTEGER and FLOAT tokens, and the
 * raw text otherwise. {@code offset} is the position in the newline-normalised source, for error locations.
 */
record JinjaToken(Kind kind, String text, Object value, int offset) {
    enum Kind { TEXT, VARIABLE_BEGIN, VARIABLE_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF }

    boolean is(Kind k, String t) {
        return kind == k && text.equals(t);
    }

    boolean isOperator(String op) {
        return kind == Kind.OPERATOR && text.equals(op);
    }

    boolean isName(String name) {
        return kind == Kind.NAME && text.equals(name);
    }

    String describe() {
        return switch (kind) {
            case EOF -> "end of template";
            case TEXT -> "template data";
            case VARIABLE_END, BLOCK_END, VARIABLE_BEGIN, BLOCK_BEGIN, OPERATOR -> "'" + text + "'";
            case NAME -> "name '" + text + "'";
            default -> text;
        };
    }
}
