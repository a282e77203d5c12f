using System.Text;
using System.Text.Json;

namespace SeccompEbpf.Profiles.Parsing;

internal enum JsonKind : byte { Object, Array, String, Number, True, False, Null }

/// <summary>A minimal JSON tree that remembers the source line of every value (System.Text.Json's DOM does not).</summary>
internal sealed class JsonTreeNode
{
    public JsonKind Kind { get; init; }
    public int Line { get; init; }
    /// <summary>String value, or the raw text of a number.</summary>
    public string? Text { get; init; }
    public List<(string Key, int Line, JsonTreeNode Value)>? Properties { get; init; }
    public List<JsonTreeNode>? Items { get; init; }

    public string Describe() => Kind switch
    {
        JsonKind.Object => "an object",
        JsonKind.Array => "an array",
        JsonKind.String => "a string",
        JsonKind.Number => "a number",
        JsonKind.True or JsonKind.False => "a boolean",
        _ => "null",
    };
}

internal static class JsonTree
{
    /// <summary>Parses UTF-8 JSON with bounded depth; returns null and sets <paramref name="error"/> (line, message) when malformed.</summary>
    public static JsonTreeNode? Parse(ReadOnlySpan<byte> utf8, int maxDepth, int maxValues, out (int Line, string Message)? error)
    {
        error = null;
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < utf8.Length; i++)
            if (utf8[i] == (byte)'\n') lineStarts.Add(i + 1);
        int LineOf(long offset)
        {
            int idx = lineStarts.BinarySearch((int)Math.Min(offset, int.MaxValue));
            return (idx >= 0 ? idx : ~idx - 1) + 1;
        }

        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions
        {
            MaxDepth = maxDepth,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        });
        try
        {
            if (!reader.Read())
            {
                error = (1, "the file is empty; expected a JSON object");
                return null;
            }
            int budget = maxValues;
            var root = ReadValue(ref reader, LineOf, ref budget);
            if (reader.Read())
            {
                error = (LineOf(reader.TokenStartIndex), "unexpected content after the top-level JSON value");
                return null;
            }
            return root;
        }
        catch (JsonException ex)
        {
            int line = (int)Math.Min((ex.LineNumber ?? 0) + 1, int.MaxValue);
            string message = ex.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut];
            // System.Text.Json quotes the offending token, which can be a large piece of the input.
            int quote = message.IndexOf('\'');
            if (quote >= 0 && message.Length > 160) message = message[..Math.Min(message.Length, 160)];
            error = (line, "malformed JSON: " + message.TrimEnd('.', ' '));
            return null;
        }
        catch (ValueBudgetExceededException)
        {
            error = (LineOf(reader.TokenStartIndex), $"the profile has more than {maxValues} JSON values; the limit is {maxValues}");
            return null;
        }
        catch (InvalidOperationException ex)
        {
            error = (LineOf(reader.TokenStartIndex), "malformed JSON: " + ex.Message);
            return null;
        }
    }

    private sealed class ValueBudgetExceededException : Exception;

    private static JsonTreeNode ReadValue(ref Utf8JsonReader reader, Func<long, int> lineOf, ref int budget)
    {
        // Bounds memory: the tree costs far more than the bytes it came from.
        if (--budget < 0) throw new ValueBudgetExceededException();
        int line = lineOf(reader.TokenStartIndex);
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var props = new List<(string, int, JsonTreeNode)>();
                while (true)
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.EndObject) break;
                    int keyLine = lineOf(reader.TokenStartIndex);
                    string key = reader.GetString()!;
                    reader.Read();
                    props.Add((key, keyLine, ReadValue(ref reader, lineOf, ref budget)));
                }
                return new JsonTreeNode { Kind = JsonKind.Object, Line = line, Properties = props };
            }
            case JsonTokenType.StartArray:
            {
                var items = new List<JsonTreeNode>();
                while (true)
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.EndArray) break;
                    items.Add(ReadValue(ref reader, lineOf, ref budget));
                }
                return new JsonTreeNode { Kind = JsonKind.Array, Line = line, Items = items };
            }
            case JsonTokenType.String:
                return new JsonTreeNode { Kind = JsonKind.String, Line = line, Text = reader.GetString() };
            case JsonTokenType.Number:
                return new JsonTreeNode { Kind = JsonKind.Number, Line = line, Text = Encoding.UTF8.GetString(reader.ValueSpan) };
            case JsonTokenType.True:
                return new JsonTreeNode { Kind = JsonKind.True, Line = line };
            case JsonTokenType.False:
                return new JsonTreeNode { Kind = JsonKind.False, Line = line };
            default:
                return new JsonTreeNode { Kind = JsonKind.Null, Line = line };
        }
    }
}
