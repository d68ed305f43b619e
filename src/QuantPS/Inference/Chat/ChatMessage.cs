using System.Collections;

namespace QuantPS.Inference.Chat;

/// <summary>One turn of a conversation: who speaks ("system", "user", "assistant", "tool"...) and what.</summary>
public sealed record ChatMessage
{
    public ChatMessage(string role, string content)
    {
        ArgumentNullException.ThrowIfNull(role);
        ArgumentNullException.ThrowIfNull(content);
        Role = role;
        Content = content;
    }

    /// <summary>
    /// A message from a dictionary with "role" and "content" keys (any case), so that PowerShell
    /// converts hashtables: [ChatMessage[]]@(@{ role = 'user'; content = 'Hi' }).
    /// </summary>
    public ChatMessage(IDictionary entries)
        : this(Entry(entries, "role"), Entry(entries, "content"))
    {
    }

    public string Role { get; }

    public string Content { get; }

    public static ChatMessage System(string content) => new("system", content);

    public static ChatMessage User(string content) => new("user", content);

    public static ChatMessage Assistant(string content) => new("assistant", content);

    public override string ToString() => $"{Role}: {Content}";

    private static string Entry(IDictionary entries, string name)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (DictionaryEntry entry in entries)
        {
            if (entry.Key is string key && string.Equals(key, name, StringComparison.OrdinalIgnoreCase) && entry.Value is not null)
            {
                return entry.Value.ToString() ?? string.Empty;
            }
        }

        throw new ChatTemplateException(ChatTemplateErrorKind.InvalidMessage,
            $"A chat message needs a '{name}' entry (role: system, user, assistant...; content: the text).", name);
    }
}
