using System.Diagnostics;
using System.Text;
using QuantPS.Inference.Engine;
using QuantPS.Inference.Sampling;

namespace QuantPS.Inference.Generation;

/// <summary>
/// Generates text from a loaded model: tokenizes the prompt, evaluates it in batches, then samples and decodes one
/// token at a time until end of generation, MaxTokens, a stop string, a full context or cancellation.
/// Keeps its <see cref="InferenceContext"/> (KV cache, threads) between calls while the context options stay the same,
/// so a script can load once and generate many times. One call at a time.
/// </summary>
public sealed class TextGenerator : IDisposable
{
    private readonly bool _ownsModel;
    private InferenceContext? _context;

    /// <param name="model">The model to run.</param>
    /// <param name="ownsModel">Dispose the model with this generator.</param>
    public TextGenerator(LlmModel model, bool ownsModel = false)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        _ownsModel = ownsModel;
    }

    public LlmModel Model { get; }

    /// <summary>Generates a continuation of <paramref name="prompt"/> (empty: from BOS alone).</summary>
    /// <param name="prompt">Plain text, or text already formatted by a chat template.</param>
    /// <param name="options">Null = llama.cpp's defaults.</param>
    /// <param name="onText">Called with each piece of text as soon as it is final (on the calling thread).</param>
    /// <param name="cancellationToken">Stops generation within one layer's work; the result then says Cancelled.</param>
    /// <exception cref="LlmException">The prompt does not fit in the context, or an option is invalid.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        var tokens = Model.Tokenizer.Encode(prompt, options.AddSpecial, options.ParseSpecial);
        if (tokens.Length == 0)
        {
            tokens = Model.Tokenizer.BosId is { } bos
                ? [bos]
                : throw new LlmException(LlmErrorKind.InvalidOption,
                    "The prompt is empty and the model has no BOS token to start from; give a prompt.", "Prompt");
        }

        return Generate(tokens, options, onText, cancellationToken);
    }

    /// <summary>Generates a continuation of the given prompt tokens.</summary>
    public GenerationResult Generate(IReadOnlyList<int> promptTokens, GenerationOptions? options = null, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        options ??= new GenerationOptions();
        if (promptTokens.Count == 0)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, "At least one prompt token is needed.", "Prompt");
        }

        if (options.Keep < -1)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, $"Keep must be -1 (the whole prompt) or more; got {options.Keep}.", "Keep");
        }

        if (options.MaxTokens < -1)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, $"MaxTokens must be -1 (no limit) or more; got {options.MaxTokens}.", "MaxTokens");
        }

        var context = ContextFor(options.ToContext());
        if (promptTokens.Count > context.ContextLength)
        {
            throw new LlmException(LlmErrorKind.ContextFull,
                $"The prompt has {promptTokens.Count} tokens but the context holds {context.ContextLength}; use a longer context or a shorter prompt.",
                "ContextLength");
        }

        var tokenizer = Model.Tokenizer;
        var banned = options.IgnoreEos ? tokenizer.EndOfGenerationIds : null;
        Sampler sampler;
        try
        {
            sampler = new Sampler(Model.Config.VocabularySize, options.ToSampling(), context.ContextLength, banned);
        }
        catch (ArgumentException e)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, e.Message, "Sampling", e);
        }

        var filter = new StopStringFilter(options.Stop ?? Array.Empty<string>());
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[64];
        var generated = new List<int>(options.MaxTokens > 0 ? Math.Min(options.MaxTokens, 4096) : 256);
        var prompt = promptTokens as int[] ?? promptTokens.ToArray();
        var keep = KeptTokens(options.Keep, prompt);
        context.Reset();
        foreach (var token in prompt)
        {
            sampler.Accept(token);
        }

        var clock = Stopwatch.StartNew();
        var promptTime = TimeSpan.Zero;
        StopReason reason;
        try
        {
            var logits = context.Decode(prompt, cancellationToken);
            promptTime = clock.Elapsed;
            clock.Restart();
            while (true)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    reason = StopReason.Cancelled;
                    break;
                }

                if (options.MaxTokens >= 0 && generated.Count >= options.MaxTokens)
                {
                    reason = StopReason.MaxTokens;
                    break;
                }

                var token = sampler.Sample(logits);
                sampler.Accept(token);
                generated.Add(token);
                if (!options.IgnoreEos && tokenizer.IsEndOfGeneration(token))
                {
                    reason = StopReason.EndOfGeneration;
                    break;
                }

                var bytes = tokenizer.TokenToBytes(token, special: false);
                if (chars.Length < bytes.Length + 4)
                {
                    chars = new char[bytes.Length + 4];
                }

                var count = decoder.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
                var released = filter.Append(new string(chars, 0, count));
                if (released.Length > 0)
                {
                    onText?.Invoke(released);
                }

                if (filter.Stopped)
                {
                    reason = StopReason.StopString;
                    break;
                }

                if (options.MaxTokens >= 0 && generated.Count >= options.MaxTokens)
                {
                    reason = StopReason.MaxTokens; // no need to evaluate the last token
                    break;
                }

                if (options.ContextShift && context.Position + 1 >= context.ContextLength)
                {
                    // llama-completion's test and arithmetic: shift once the next token would fill the last cell.
                    var discard = (context.Position - keep) / 2;
                    if (discard < 1)
                    {
                        reason = StopReason.ContextFull; // everything left is kept
                        break;
                    }

                    context.Shift(keep, discard);
                }
                else if (context.Position >= context.ContextLength)
                {
                    reason = StopReason.ContextFull;
                    break;
                }

                logits = context.Decode(token, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            reason = StopReason.Cancelled;
            if (promptTime == TimeSpan.Zero)
            {
                promptTime = clock.Elapsed;
                clock.Restart();
            }
        }

        if (!filter.Stopped)
        {
            var count = decoder.GetChars(Array.Empty<byte>(), 0, 0, chars, 0, flush: true);
            var rest = filter.Append(new string(chars, 0, count)) + filter.Flush();
            if (rest.Length > 0)
            {
                onText?.Invoke(rest);
            }
        }

        return new GenerationResult
        {
            Text = filter.Text,
            PromptTokens = prompt.Length,
            GeneratedTokens = generated.Count,
            TokenIds = generated,
            StopReason = reason,
            Seed = sampler.Seed,
            PromptDuration = promptTime,
            GenerationDuration = clock.Elapsed,
        };
    }

    // llama-completion's n_keep: the whole prompt for -1 or more than it has, else the count asked for plus BOS when
    // the tokenizer put one in front ("always keep the BOS token").
    private int KeptTokens(int keep, int[] prompt)
    {
        if (keep < 0 || keep > prompt.Length)
        {
            return prompt.Length;
        }

        var tokenizer = Model.Tokenizer;
        var addedBos = tokenizer.AddBos && tokenizer.BosId is { } bos && prompt[0] == bos;
        return keep + (addedBos ? 1 : 0);
    }

    private InferenceContext ContextFor(ContextOptions options)
    {
        if (_context is not null && _context.Options == options)
        {
            return _context;
        }

        _context?.Dispose();
        _context = null;
        _context = Model.CreateContext(options);
        return _context;
    }

    public void Dispose()
    {
        _context?.Dispose();
        _context = null;
        if (_ownsModel)
        {
            Model.Dispose();
        }
    }
}
