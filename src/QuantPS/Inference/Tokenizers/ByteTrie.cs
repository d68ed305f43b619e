namespace QuantPS.Inference.Tokenizers;

/// <summary>A trie over UTF-8 bytes (Unigram and RWKV match tokens byte by byte).</summary>
internal sealed class ByteTrie
{
    public const int Root = 0;
    public const int None = -1;

    private readonly Dictionary<long, int> _children = [];
    private readonly List<int> _values = [None];

    /// <summary>Adds a key; a key added again takes the new value.</summary>
    public void Insert(ReadOnlySpan<byte> key, int value)
    {
        var node = Root;
        foreach (var b in key)
        {
            var edge = Edge(node, b);
            if (!_children.TryGetValue(edge, out var child))
            {
                child = _values.Count;
                _values.Add(None);
                _children.Add(edge, child);
            }

            node = child;
        }

        _values[node] = value;
    }

    /// <summary>The node reached from <paramref name="node"/> by <paramref name="b"/>, or <see cref="None"/>.</summary>
    public int Child(int node, byte b) => _children.TryGetValue(Edge(node, b), out var child) ? child : None;

    /// <summary>The value stored at a node, or <see cref="None"/>.</summary>
    public int Value(int node) => _values[node];

    /// <summary>How many bytes of <paramref name="text"/> the trie can follow from the root (values or not).</summary>
    public int LongestPathLength(ReadOnlySpan<byte> text)
    {
        var node = Root;
        var length = 0;
        while (length < text.Length && (node = Child(node, text[length])) != None)
        {
            length++;
        }

        return length;
    }

    private static long Edge(int node, byte b) => ((long)node << 8) | b;
}
