namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// Token text → id without allocating: looks up any span of a string (a candidate merge, a
/// prefix) directly. Open addressing over the vocabulary's own strings. When two tokens share
/// a text the later id wins, as in llama.cpp's loader.
/// </summary>
internal sealed class TokenLookup
{
    private readonly string[] _texts;
    private readonly int[] _slots; // token id + 1; 0 = empty
    private readonly int _mask;

    public TokenLookup(string[] texts)
    {
        _texts = texts;
        var capacity = 16;
        while (capacity < texts.Length * 2)
        {
            capacity <<= 1;
        }

        _slots = new int[capacity];
        _mask = capacity - 1;
        for (var id = 0; id < texts.Length; id++)
        {
            Insert(id);
        }
    }

    /// <summary>The id of the token whose text is exactly <paramref name="text"/>, or -1.</summary>
    public int Find(ReadOnlySpan<char> text)
    {
        var slot = string.GetHashCode(text) & _mask;
        while (true)
        {
            var entry = _slots[slot];
            if (entry == 0)
            {
                return -1;
            }

            if (text.SequenceEqual(_texts[entry - 1]))
            {
                return entry - 1;
            }

            slot = (slot + 1) & _mask;
        }
    }

    private void Insert(int id)
    {
        var text = _texts[id];
        var slot = string.GetHashCode(text.AsSpan()) & _mask;
        while (true)
        {
            var entry = _slots[slot];
            if (entry == 0 || _texts[entry - 1] == text)
            {
                _slots[slot] = id + 1; // a duplicate text: the later id replaces the earlier
                return;
            }

            slot = (slot + 1) & _mask;
        }
    }
}
