package ai.parallax.models.chat;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} in the C locale, for {@code strftime_now(fmt)} (Llama 3.x templates call
 * {@code strftime_now("%d %b %Y")}). Supports the glibc {@code %-d} style no-padding flag, as Linux Python does.
 */
final class PythonStrftime {
    private PythonStrftime() { }

    static String format(ZonedDateTime t, String fmt) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                out.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            boolean pad = true;
            if (d == '-' && i + 1 < fmt.length()) {
                pad = false;
                d = fmt.charAt(++i);
            }
            switch (d) {
                case 'a' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b', 'h' -> out.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> out.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'd' -> number(out, t.getDayOfMonth(), 2, pad);
                case 'e' -> out.append(pad && t.getDayOfMonth() < 10 ? " " : "").append(t.getDayOfMonth());
                case 'm' -> number(out, t.getMonthValue(), 2, pad);
                case 'y' -> number(out, t.getYear() % 100, 2, pad);
                case 'Y' -> out.append(t.getYear());
                case 'H' -> number(out, t.getHour(), 2, pad);
                case 'I' -> number(out, t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, pad);
                case 'M' -> number(out, t.getMinute(), 2, pad);
                case 'S' -> number(out, t.getSecond(), 2, pad);
                case 'f' -> number(out, t.getNano() / 1000, 6, true);
                case 'p' -> out.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> number(out, t.getDayOfYear(), 3, pad);
                case 'w' -> out.append(t.getDayOfWeek().getValue() % 7);
                case 'u' -> out.append(t.getDayOfWeek().getValue());
                case 'Z' -> out.append(t.getZone().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'z' -> out.append(t.getOffset().getId().equals("Z") ? "+0000" : t.getOffset().getId().replace(":", ""));
                case 'F' -> out.append(format(t, "%Y-%m-%d"));
                case 'T' -> out.append(format(t, "%H:%M:%S"));
                case 'D' -> out.append(format(t, "%m/%d/%y"));
                case '%' -> out.append('%');
                default -> throw new TemplateException("strftime directive '%" + d + "' is not supported");
            }
        }
        return out.toString();
    }

    private static void number(StringBuilder out, int value, int width, boolean pad) {
        String s = Integer.toString(value);
        if (pad) out.append("0".repeat(Math.max(0, width - s.length())));
        out.append(s);
    }
}
