namespace BookingHost.Domain;

/// <summary>Validation of free-text fields: length, no control characters (stored as given: SQL is always parameterized).</summary>
public static class Text
{
    /// <summary>Returns an error message, or <see langword="null"/> when <paramref name="value"/> is acceptable.</summary>
    public static string? Check(string? value, string field, int max, bool required = true)
    {
        if (value is null || value.Length == 0)
        {
            return required ? $"{field} is required." : null;
        }

        if (value.Length > max)
        {
            return $"{field} is {value.Length} characters long; at most {max} are allowed.";
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return $"{field} cannot be only white space.";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c) && c is not ('\n' or '\t'))
            {
                return $"{field} contains a control character (U+{(int)c:X4}).";
            }
        }

        return null;
    }
}
