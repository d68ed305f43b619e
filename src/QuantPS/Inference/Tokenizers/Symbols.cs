namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// The symbols of a piece of text during merging (SentencePiece and BPE): a doubly linked run of
/// spans in which a symbol absorbs its right neighbour.
/// </summary>
internal sealed class Symbols
{
    public struct Symbol
    {
        public int Start;
        public int Length; // 0 once merged into its left neighbour
        public int Previous;
        public int Next;
    }

    public Symbol[] Items = [];

    public int Count;

    /// <summary>One symbol per codepoint (a surrogate pair is one symbol).</summary>
    public static Symbols FromCodepoints(ReadOnlySpan<char> text)
    {
        var symbols = new Symbols { Items = new Symbol[text.Length] };
        for (var pos = 0; pos < text.Length;)
        {
            var length = char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length && char.IsLowSurrogate(text[pos + 1]) ? 2 : 1;
            symbols.Add(pos, length, pos + length == text.Length);
            pos += length;
        }

        return symbols;
    }

    public void Add(int start, int length, bool last)
    {
        Items[Count] = new Symbol { Start = start, Length = length, Previous = Count - 1, Next = last ? -1 : Count + 1 };
        Count++;
    }

    public void MergeRightInto(int left)
    {
        ref var l = ref Items[left];
        ref var r = ref Items[l.Next];
        l.Length += r.Length;
        r.Length = 0;
        l.Next = r.Next;
        if (r.Next >= 0)
        {
            Items[r.Next].Previous = left;
        }
    }
}
