using System.Collections;
using System.Diagnostics;
using System.Management.Automation;
using QuantPS.Inference.Chat;
using QuantPS.Inference.Engine;
using QuantPS.Inference.Generation;

namespace QuantPS.PowerShell;

/// <summary>
/// Invoke-LocalLlm: generates text with a local GGUF model on the CPU, with llama.cpp's sampling defaults. The
/// model loads once per pipeline (or comes from Open-LlmModel); each prompt gives one <see cref="LocalLlmResult"/>,
/// and with -Stream the text pieces first, as they are generated. Ctrl+C stops generation promptly.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LocalLlm", DefaultParameterSetName = PromptSet)]
[OutputType(typeof(LocalLlmResult), typeof(string))]
public sealed class InvokeLocalLlmCommand : PSCmdlet, IDisposable
{
    private const string PromptSet = "Prompt";
    private const string MessagesSet = "Messages";

    private readonly CancellationTokenSource _stopping = new();
    private LlmModelHandle? _handle;
    private bool _ownsHandle;
    private GenerationOptions _options = new();

    /// <summary>A model file, or a model opened with Open-LlmModel.</summary>
    [Parameter(Mandatory = true)]
    [LlmModelTransformation]
    [ValidateNotNull]
    public object Model { get; set; } = null!;

    /// <summary>The text to continue (pipeline input too). Empty or absent: generate from BOS alone.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ParameterSetName = PromptSet)]
    [AllowEmptyString]
    [AllowNull]
    public string? Prompt { get; set; }

    /// <summary>A conversation: @{role='user'; content='...'} hashtables or objects with Role and Content, formatted by the chat template.</summary>
    [Parameter(Mandatory = true, ParameterSetName = MessagesSet)]
    [ValidateNotNullOrEmpty]
    public object[] Messages { get; set; } = [];

    /// <summary>A system message before the prompt or messages; the prompt is then sent as a chat.</summary>
    [Parameter]
    public string? SystemPrompt { get; set; }

    /// <summary>A built-in chat template by name (chatml, llama3, ...) instead of the model's own. Implies chat formatting.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ChatTemplateNameCompleter))]
    public string? ChatTemplate { get; set; }

    /// <summary>Tokens to generate at most; -1 (default) until end of generation or a full context.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int MaxTokens { get; set; } = -1;

    /// <summary>0 = greedy (always the most likely token). Default 0.8.</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public float Temperature { get; set; } = 0.8f;

    /// <summary>Keep the K most likely tokens; 0 = all. Default 40.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int TopK { get; set; } = 40;

    /// <summary>Nucleus sampling; 1.0 = off. Default 0.95.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float TopP { get; set; } = 0.95f;

    /// <summary>Drop tokens below MinP x the top probability; 0 = off. Default 0.05.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float MinP { get; set; } = 0.05f;

    /// <summary>Penalize tokens seen in the last RepeatLastN; 1.0 (default) = off.</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public float RepeatPenalty { get; set; } = 1.0f;

    /// <summary>How many recent tokens the penalties look at; -1 = the whole context. Default 64.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int RepeatLastN { get; set; } = 64;

    [Parameter]
    [ValidateRange(-100.0, 100.0)]
    public float FrequencyPenalty { get; set; }

    [Parameter]
    [ValidateRange(-100.0, 100.0)]
    public float PresencePenalty { get; set; }

    /// <summary>Sampling seed: the same seed, model, prompt and settings give the same text. Default: random.</summary>
    [Parameter]
    public uint Seed { get; set; }

    /// <summary>Worker threads; default all cores.</summary>
    [Parameter]
    [ValidateRange(0, 4096)]
    public int Threads { get; set; }

    /// <summary>Tokens the context holds (prompt + generated); default 4096 or the model's trained length if smaller.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int ContextLength { get; set; }

    /// <summary>The KV cache's element type: F16 (default), F32, or Q8_0.</summary>
    [Parameter]
    public KvCacheType KvCacheType { get; set; } = KvCacheType.F16;

    /// <summary>Stop when the text contains one of these (it is not included in the result).</summary>
    [Parameter]
    [ValidateNotNull]
    public string[] Stop { get; set; } = [];

    /// <summary>Keep generating past end-of-generation tokens (as llama.cpp's --ignore-eos; for benchmarks).</summary>
    [Parameter]
    public SwitchParameter IgnoreEos { get; set; }

    /// <summary>
    /// When the context is full, forget the older half of the tokens after the first -Keep and go on (llama.cpp's
    /// --context-shift); without it generation stops with StopReason ContextFull.
    /// </summary>
    [Parameter]
    public SwitchParameter ContextShift { get; set; }

    /// <summary>Prompt tokens a context shift keeps (llama.cpp's --keep): 0 = BOS only (default), -1 = the whole prompt.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int Keep { get; set; }

    /// <summary>Write each piece of text to the pipeline as it is generated; the result object still comes last.</summary>
    [Parameter]
    public SwitchParameter Stream { get; set; }

    protected override void BeginProcessing()
    {
        _options = new GenerationOptions
        {
            MaxTokens = MaxTokens,
            Temperature = Temperature,
            TopK = TopK,
            TopP = TopP,
            MinP = MinP,
            RepeatPenalty = RepeatPenalty,
            RepeatLastN = RepeatLastN,
            FrequencyPenalty = FrequencyPenalty,
            PresencePenalty = PresencePenalty,
            Seed = MyInvocation.BoundParameters.ContainsKey(nameof(Seed)) ? Seed : null,
            Threads = Threads,
            ContextLength = ContextLength,
            KvCacheType = KvCacheType,
            Stop = Stop,
            IgnoreEos = IgnoreEos,
            ContextShift = ContextShift,
            Keep = Keep,
        };

        switch (Model)
        {
            case LlmModelHandle { IsOpen: false } closed:
                ThrowTerminatingError(LlmErrors.Closed(closed));
                break;
            case LlmModelHandle open:
                _handle = open;
                break;
            case string path:
                var resolved = LlmModelLoader.Resolve(this, path, literal: false);
                _handle = resolved is null ? null : LlmModelLoader.Load(this, resolved);
                _ownsHandle = true;
                if (_handle is null)
                {
                    // The reason was written; nothing can run without the model.
                    ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"The model '{path}' could not be loaded."), "LlmModelNotLoaded", ErrorCategory.OpenError, path));
                }

                break;
        }
    }

    protected override void ProcessRecord()
    {
        if (_handle is null || _stopping.IsCancellationRequested) return;
        string prompt;
        try
        {
            prompt = PromptText();
        }
        catch (ChatTemplateException e)
        {
            WriteError(LlmErrors.From(e, ChatTemplate ?? _handle.Name));
            return;
        }

        var progress = new ProgressRecord(2, $"Generating with {_handle.Name}", "Reading the prompt");
        var clock = Stopwatch.StartNew();
        int pieces = 0;
        void OnText(string piece)
        {
            pieces++;
            if (Stream)
            {
                WriteObject(piece);
            }
            else if (clock.ElapsedMilliseconds > 500)
            {
                clock.Restart();
                progress.StatusDescription = $"{pieces} pieces of text so far";
                WriteProgress(progress);
            }
        }

        try
        {
            var result = _handle.Generate(prompt, _options, OnText, _stopping.Token);
            if (result.StopReason == StopReason.Cancelled && _stopping.IsCancellationRequested) return;
            WriteVerbose($"Prompt: {result.PromptTokens} tokens in {result.PromptDuration.TotalSeconds:0.000} s ({result.PromptTokensPerSecond:0.0} tokens/s); " +
                $"generated {result.GeneratedTokens} tokens in {result.GenerationDuration.TotalSeconds:0.000} s ({result.TokensPerSecond:0.0} tokens/s); stop: {result.StopReason}; seed {result.Seed}.");
            WriteObject(new LocalLlmResult(result, _handle.Name, prompt));
        }
        catch (LlmException e)
        {
            WriteError(LlmErrors.From(e, Prompt));
        }
        catch (ObjectDisposedException) when (!_handle.IsOpen)
        {
            ThrowTerminatingError(LlmErrors.Closed(_handle));
        }
        finally
        {
            if (!Stream)
            {
                WriteProgress(new ProgressRecord(2, $"Generating with {_handle.Name}", "Done") { RecordType = ProgressRecordType.Completed });
            }
        }
    }

    protected override void EndProcessing() => ReleaseModel();

    protected override void StopProcessing()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished.
        }
    }

    public void Dispose()
    {
        ReleaseModel();
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    private void ReleaseModel()
    {
        if (_ownsHandle)
        {
            _handle?.Dispose();
            _handle = null;
        }
    }

    // Plain text unless the caller asked for a conversation (-Messages, -SystemPrompt or -ChatTemplate).
    private string PromptText()
    {
        bool chat = ParameterSetName == MessagesSet || SystemPrompt is not null || ChatTemplate is not null;
        if (!chat) return Prompt ?? string.Empty;
        var messages = ParameterSetName == MessagesSet
            ? Messages.Select(ToMessage).ToList()
            : [ChatMessage.User(Prompt ?? string.Empty)];
        var template = _handle!.ChatTemplateFor(ChatTemplate);
        WriteVerbose($"Chat template: {template.Name}");
        return template.Format(SystemPrompt, messages);
    }

    private static ChatMessage ToMessage(object item)
    {
        var value = item is PSObject ps ? ps.BaseObject : item;
        return value switch
        {
            ChatMessage message => message,
            IDictionary entries => new ChatMessage(entries),
            PSCustomObject when item is PSObject o => new ChatMessage(
                o.Properties["Role"]?.Value?.ToString() ?? string.Empty,
                o.Properties["Content"]?.Value?.ToString() ?? string.Empty),
            _ => throw new ChatTemplateException(ChatTemplateErrorKind.InvalidMessage,
                $"A message must be @{{role='user'; content='...'}} or an object with Role and Content, not {value?.GetType().Name ?? "null"}."),
        };
    }
}

/// <summary>-Model takes a path (string or FileInfo) or an <see cref="LlmModelHandle"/> from Open-LlmModel.</summary>
public sealed class LlmModelTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject ps ? ps.BaseObject : inputData;
        return value switch
        {
            LlmModelHandle handle => handle,
            string path => path,
            FileInfo file => file.FullName,
            _ => throw new ArgumentTransformationMetadataException(
                $"-Model takes a GGUF file path or a model from Open-LlmModel, not {value?.GetType().Name ?? "null"}."),
        };
    }
}

/// <summary>Tab completion of -ChatTemplate with the built-in template names.</summary>
public sealed class ChatTemplateNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Inference.Chat.ChatTemplate.BuiltInNames
            .Where(n => n.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n));
}
