namespace QuantPS.Inference.Tokenizers;

public sealed partial class LlmTokenizer
{
    private const char EscapedSpace = '\u2581';

    /// <summary>
    /// The token ids of <paramref name="text"/>, as llama_tokenize gives them.
    /// </summary>
    /// <param name="text">Any text; an empty string gives no tokens (or only BOS/EOS).</param>
    /// <param name="addSpecial">Add what the model asks for around text: BOS (and EOS) per
    /// <see cref="AddBos"/>/<see cref="AddEos"/>, or [CLS] … [SEP] for WordPiece.</param>
    /// <param name="parseSpecial">Recognize control tokens written in the text ("&lt;|im_end|&gt;"
    /// becomes that token); otherwise they are tokenized as plain text. User-defined tokens are
    /// always recognized, as in llama.cpp.</param>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 4);
        var fragments = text.Length == 0 ? [] : Partition(text, parseSpecial);
        var atStartOrAfterSpecial = true; // SentencePiece gives such text its space prefix
        if (addSpecial && (AddBos || Kind == TokenizerKind.WordPiece) && Kind != TokenizerKind.Rwkv)
        {
            output.Add(Required(_vocabulary.Bos, "BOS"));
        }

        foreach (var fragment in fragments)
        {
            if (fragment.Token >= 0)
            {
                output.Add(fragment.Token);
                atStartOrAfterSpecial = true;
                continue;
            }

            var piece = text.Substring(fragment.Start, fragment.Length);
            if (Kind == TokenizerKind.SentencePiece)
            {
                piece = ((_vocabulary.AddSpacePrefix && atStartOrAfterSpecial ? " " : string.Empty) + piece).Replace(' ', EscapedSpace);
            }

            EncodeText(piece, output);
            atStartOrAfterSpecial = false;
        }

        if (addSpecial && Kind == TokenizerKind.WordPiece)
        {
            output.Add(Required(_vocabulary.Separator, "separator"));
        }
        else if (addSpecial && AddEos && Kind != TokenizerKind.Rwkv)
        {
            output.Add(Required(_vocabulary.Eos, "EOS"));
        }

        return output.ToArray();
    }

    /// <summary>The number of tokens <see cref="Encode"/> gives.</summary>
    public int CountTokens(string text, bool addSpecial = true, bool parseSpecial = false) => Encode(text, addSpecial, parseSpecial).Length;

    // Plain text (no special tokens in it) through the vocabulary's own algorithm.
    private void EncodeText(string text, List<int> output)
    {
        switch (Kind)
        {
            case TokenizerKind.SentencePiece:
                _sentencePiece!.Encode(text, output);
                break;
            case TokenizerKind.BytePairEncoding:
                _bytePair!.EncodeFragment(_vocabulary.EscapeWhitespaces ? text.Replace(' ', EscapedSpace) : text, output);
                break;
            case TokenizerKind.WordPiece:
                _wordPiece!.Encode(text, output);
                break;
            case TokenizerKind.Unigram:
                _unigram!.Encode(text, output);
                break;
            case TokenizerKind.Rwkv:
                _rwkv!.Encode(text, output);
                break;
        }
    }

    private int Required(int id, string what) =>
        id >= 0 ? id
            : throw new TokenizerException(TokenizerErrorKind.MissingSpecialToken,
                $"The model asks for a {what} token around text, but its vocabulary has none. Encode with addSpecial: false (ConvertTo-LlmToken without -AddSpecial).", what);

    private readonly record struct Fragment(int Start, int Length, int Token);

    /// <summary>
    /// Cuts special tokens out of the text, longest token first, each over every piece still
    /// plain text; what lies between stays text. Without <paramref name="parseSpecial"/> only
    /// user-defined tokens are cut out. LStrip/RStrip tokens swallow adjacent whitespace.
    /// </summary>
    private List<Fragment> Partition(string text, bool parseSpecial)
    {
        var fragments = new List<Fragment> { new(0, text.Length, -1) };
        foreach (var id in _vocabulary.SpecialTokensLongestFirst)
        {
            var attributes = _vocabulary.Attributes[id];
            if (!parseSpecial && (attributes & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
            {
                continue;
            }

            var token = _vocabulary.Texts[id];
            if (!fragments.Exists(f => f.Token < 0 && f.Length >= token.Length))
            {
                continue;
            }

            var next = new List<Fragment>(fragments.Count + 2);
            foreach (var fragment in fragments)
            {
                if (fragment.Token >= 0)
                {
                    next.Add(fragment);
                    continue;
                }

                SplitAround(text, fragment, token, id, attributes, next);
            }

            fragments = next;
        }

        return fragments;
    }

    private static void SplitAround(string text, Fragment fragment, string token, int id, TokenAttributes attributes, List<Fragment> output)
    {
        var position = fragment.Start;
        var end = fragment.Start + fragment.Length;
        while (true)
        {
            var match = text.AsSpan(position, end - position).IndexOf(token, StringComparison.Ordinal);
            if (match < 0)
            {
                break;
            }

            match += position;
            var leftEnd = match;
            if ((attributes & TokenAttributes.LStrip) != 0)
            {
                while (leftEnd > position && IsAsciiSpace(text[leftEnd - 1]))
                {
                    leftEnd--;
                }
            }

            if (leftEnd > position)
            {
                output.Add(new Fragment(position, leftEnd - position, -1));
            }

            output.Add(new Fragment(match, token.Length, id));
            position = match + token.Length;
            if ((attributes & TokenAttributes.RStrip) != 0)
            {
                while (position < end && IsAsciiSpace(text[position]))
                {
                    position++;
                }
            }
        }

        if (position < end)
        {
            output.Add(new Fragment(position, end - position, -1));
        }
    }

    // C's isspace in the "C" locale, which llama.cpp uses for strip attributes.
    private static bool IsAsciiSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
