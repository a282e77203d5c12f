namespace SeccompEbpf.Daemon;

/// <summary>
/// A configuration key whose value is one of a closed set: the file keeps its documented spelling (kebab-case, or
/// true/false), the code sees an enum. A value outside the set is a problem that names the key and every allowed value.
/// </summary>
/// <param name="key">The key as the configuration file spells it, e.g. <c>kubernetes.onProfileRemoved</c>.</param>
/// <param name="ignoreCase">True where the file may spell a value in any case (a JSON boolean arrives as "True").</param>
internal sealed class ConfigChoices<T>(string key, bool ignoreCase, params (string Spelling, T Value)[] choices) where T : struct, Enum
{
    public string Key => key;

    /// <summary>The allowed spellings, in the documented order.</summary>
    public IEnumerable<string> Spellings => choices.Select(c => c.Spelling);

    public bool TryParse(string? text, out T value)
    {
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        foreach (var (spelling, choice) in choices)
        {
            if (string.Equals(text, spelling, comparison))
            {
                value = choice;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <exception cref="InvalidOperationException">The value is not one of the choices; the message names the key and the choices.</exception>
    public T Parse(string? text) => TryParse(text, out var value) ? value : throw new InvalidOperationException(Problem(text));

    /// <summary>The problem with <paramref name="text"/>, or null when it is one of the choices.</summary>
    public string? Check(string? text) => TryParse(text, out _) ? null : Problem(text);

    /// <summary>The documented spelling of <paramref name="value"/>.</summary>
    public string SpellingOf(T value) => choices.First(c => EqualityComparer<T>.Default.Equals(c.Value, value)).Spelling;

    private string Problem(string? text)
    {
        var spellings = choices.Select(c => c.Spelling).ToList();
        var allowed = spellings.Count == 1 ? spellings[0] : $"{string.Join(", ", spellings[..^1])} or {spellings[^1]}";
        return $"{key}: \"{Lifecycle.PolicyAnnotations.Echo(text ?? "")}\" must be {allowed}";
    }
}
