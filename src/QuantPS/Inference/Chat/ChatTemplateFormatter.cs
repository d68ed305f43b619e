using System.Text;

namespace QuantPS.Inference.Chat;

/// <summary>
/// Writes a conversation the way each family's template does, byte for byte as llama.cpp's
/// llm_chat_apply_template: the same markers, newlines and trimming, the same handling of
/// system messages for families without a system role.
/// </summary>
internal static partial class ChatTemplateFormatter
{
    public static string Format(ChatTemplateFamily family, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        var s = new StringBuilder();
        switch (family)
        {
            case ChatTemplateFamily.ChatMl:
                Each(chat, m => s.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n"));
                If(addAssistant, s, "<|im_start|>assistant\n");
                break;
            case ChatTemplateFamily.MistralV7 or ChatTemplateFamily.MistralV7Tekken:
                MistralV7(s, chat, family == ChatTemplateFamily.MistralV7 ? " " : string.Empty);
                break;
            case ChatTemplateFamily.MistralV1 or ChatTemplateFamily.MistralV3 or ChatTemplateFamily.MistralV3Tekken:
                MistralV1V3(s, chat, family);
                break;
            case ChatTemplateFamily.Llama2 or ChatTemplateFamily.Llama2Sys or ChatTemplateFamily.Llama2SysBos or ChatTemplateFamily.Llama2SysStrip:
                Llama2(s, chat, family);
                break;
            case ChatTemplateFamily.Phi3:
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|end|>\n"));
                If(addAssistant, s, "<|assistant|>\n");
                break;
            case ChatTemplateFamily.Phi4:
                Each(chat, m => s.Append("<|im_start|>").Append(m.Role).Append("<|im_sep|>").Append(m.Content).Append("<|im_end|>"));
                If(addAssistant, s, "<|im_start|>assistant<|im_sep|>");
                break;
            case ChatTemplateFamily.Falcon3:
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append('\n'));
                If(addAssistant, s, "<|assistant|>\n");
                break;
            case ChatTemplateFamily.Zephyr:
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|endoftext|>\n"));
                If(addAssistant, s, "<|assistant|>\n");
                break;
            case ChatTemplateFamily.Monarch:
                // The <s> is part of the history for every message but the first.
                for (var i = 0; i < chat.Count; i++)
                {
                    s.Append(i == 0 ? string.Empty : "<s>").Append(chat[i].Role).Append('\n').Append(chat[i].Content).Append("</s>\n");
                }

                If(addAssistant, s, "<s>assistant\n");
                break;
            case ChatTemplateFamily.Gemma:
                Gemma(s, chat, addAssistant);
                break;
            case ChatTemplateFamily.Orion:
                Orion(s, chat);
                break;
            case ChatTemplateFamily.OpenChat:
                Each(chat, m => s.Append(m.Role == "system" ? m.Content : "GPT4 Correct " + CapitalizeFirstAscii(m.Role) + ": " + m.Content).Append("<|end_of_turn|>"));
                If(addAssistant, s, "GPT4 Correct Assistant:");
                break;
            case ChatTemplateFamily.Vicuna or ChatTemplateFamily.VicunaOrca:
                Vicuna(s, chat, family == ChatTemplateFamily.VicunaOrca);
                If(addAssistant, s, "ASSISTANT:");
                break;
            case ChatTemplateFamily.Deepseek:
                ByRole(s, chat, system: m => m.Content, user: m => "### Instruction:\n" + m.Content + "\n", assistant: m => "### Response:\n" + m.Content + "\n<|EOT|>\n");
                If(addAssistant, s, "### Response:\n");
                break;
            case ChatTemplateFamily.CommandR:
                ByRole(s, chat,
                    system: m => "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>" + Trim(m.Content) + "<|END_OF_TURN_TOKEN|>",
                    user: m => "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>" + Trim(m.Content) + "<|END_OF_TURN_TOKEN|>",
                    assistant: m => "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" + Trim(m.Content) + "<|END_OF_TURN_TOKEN|>");
                If(addAssistant, s, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
                break;
            case ChatTemplateFamily.Llama3:
                Each(chat, m => s.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(Trim(m.Content)).Append("<|eot_id|>"));
                If(addAssistant, s, "<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case ChatTemplateFamily.ChatGlm3:
                s.Append("[gMASK]sop");
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n ").Append(m.Content));
                If(addAssistant, s, "<|assistant|>");
                break;
            case ChatTemplateFamily.ChatGlm4:
                s.Append("[gMASK]<sop>");
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content));
                If(addAssistant, s, "<|assistant|>\n");
                break;
            case ChatTemplateFamily.GlmEdge:
                Each(chat, m => s.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content));
                If(addAssistant, s, "<|assistant|>");
                break;
            case ChatTemplateFamily.MiniCpm:
                Each(chat, m => s.Append(m.Role == "user" ? "<用户>" + Trim(m.Content) + "<AI>" : Trim(m.Content)));
                break;
            case ChatTemplateFamily.Deepseek2:
                ByRole(s, chat, system: m => m.Content + "\n\n", user: m => "User: " + m.Content + "\n\n", assistant: m => "Assistant: " + m.Content + "<｜end▁of▁sentence｜>");
                If(addAssistant, s, "Assistant:");
                break;
            case ChatTemplateFamily.Deepseek3:
                ByRole(s, chat, system: m => m.Content + "\n\n", user: m => "<｜User｜>" + m.Content, assistant: m => "<｜Assistant｜>" + m.Content + "<｜end▁of▁sentence｜>");
                If(addAssistant, s, "<｜Assistant｜>");
                break;
            case ChatTemplateFamily.DeepseekOcr:
                Each(chat, m => s.Append(m.Content)); // no template: the contents only
                break;
            default:
                FormatMore(family, s, chat, addAssistant);
                break;
        }

        return s.ToString();
    }

    private static void MistralV7(StringBuilder s, IReadOnlyList<ChatMessage> chat, string space)
    {
        foreach (var m in chat)
        {
            s.Append(m.Role switch
            {
                "system" => "[SYSTEM_PROMPT]" + space + m.Content + "[/SYSTEM_PROMPT]",
                "user" => "[INST]" + space + m.Content + "[/INST]",
                _ => space + m.Content + "</s>",
            });
        }
    }

    private static void MistralV1V3(StringBuilder s, IReadOnlyList<ChatMessage> chat, ChatTemplateFamily family)
    {
        var leading = family == ChatTemplateFamily.MistralV1 ? " " : string.Empty;
        var trailing = family == ChatTemplateFamily.MistralV3Tekken ? string.Empty : " ";
        var trimAssistant = family == ChatTemplateFamily.MistralV3;
        var insideTurn = false;
        foreach (var m in chat)
        {
            if (!insideTurn)
            {
                s.Append(leading).Append("[INST]").Append(trailing);
                insideTurn = true;
            }

            if (m.Role == "system")
            {
                s.Append(m.Content).Append("\n\n");
            }
            else if (m.Role == "user")
            {
                s.Append(m.Content).Append(leading).Append("[/INST]");
            }
            else
            {
                s.Append(trailing).Append(trimAssistant ? Trim(m.Content) : m.Content).Append("</s>");
                insideTurn = false;
            }
        }
    }

    private static void Llama2(StringBuilder s, IReadOnlyList<ChatMessage> chat, ChatTemplateFamily family)
    {
        var supportsSystem = family != ChatTemplateFamily.Llama2;
        var bosInsideHistory = family == ChatTemplateFamily.Llama2SysBos;
        var strip = family == ChatTemplateFamily.Llama2SysStrip;
        var insideTurn = true; // the BOS at the very start is the tokenizer's to add
        s.Append("[INST] ");
        foreach (var m in chat)
        {
            var content = strip ? Trim(m.Content) : m.Content;
            if (!insideTurn)
            {
                insideTurn = true;
                s.Append(bosInsideHistory ? "<s>[INST] " : "[INST] ");
            }

            if (m.Role == "system")
            {
                // Without system support the system text still leads the first turn.
                s.Append(supportsSystem ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n");
            }
            else if (m.Role == "user")
            {
                s.Append(content).Append(" [/INST]");
            }
            else
            {
                s.Append(content).Append("</s>");
                insideTurn = false;
            }
        }
    }

    private static void Gemma(StringBuilder s, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        // Gemma has no system role: the system text joins the next user turn.
        var system = string.Empty;
        foreach (var m in chat)
        {
            if (m.Role == "system")
            {
                system += Trim(m.Content);
                continue;
            }

            var role = m.Role == "assistant" ? "model" : m.Role;
            s.Append("<start_of_turn>").Append(role).Append('\n');
            if (system.Length > 0 && role != "model")
            {
                s.Append(system).Append("\n\n");
                system = string.Empty;
            }

            s.Append(Trim(m.Content)).Append("<end_of_turn>\n");
        }

        If(addAssistant, s, "<start_of_turn>model\n");
    }

    private static void Orion(StringBuilder s, IReadOnlyList<ChatMessage> chat)
    {
        var system = string.Empty;
        foreach (var m in chat)
        {
            if (m.Role == "system")
            {
                system += m.Content;
            }
            else if (m.Role == "user")
            {
                s.Append("Human: ");
                if (system.Length > 0)
                {
                    s.Append(system).Append("\n\n");
                    system = string.Empty;
                }

                s.Append(m.Content).Append("\n\nAssistant: </s>");
            }
            else
            {
                s.Append(m.Content).Append("</s>");
            }
        }
    }

    private static void Vicuna(StringBuilder s, IReadOnlyList<ChatMessage> chat, bool orca)
    {
        foreach (var m in chat)
        {
            if (m.Role == "system")
            {
                s.Append(orca ? "SYSTEM: " + m.Content + "\n" : m.Content + "\n\n");
            }
            else if (m.Role == "user")
            {
                s.Append("USER: ").Append(m.Content).Append('\n');
            }
            else if (m.Role == "assistant")
            {
                s.Append("ASSISTANT: ").Append(m.Content).Append("</s>\n");
            }
        }
    }

    private static void Each(IReadOnlyList<ChatMessage> chat, Action<ChatMessage> write)
    {
        foreach (var m in chat)
        {
            write(m);
        }
    }

    /// <summary>System, user and assistant turns each in their own form; other roles are left out.</summary>
    private static void ByRole(StringBuilder s, IReadOnlyList<ChatMessage> chat, Func<ChatMessage, string> system, Func<ChatMessage, string> user, Func<ChatMessage, string> assistant)
    {
        foreach (var m in chat)
        {
            s.Append(m.Role switch
            {
                "system" => system(m),
                "user" => user(m),
                "assistant" => assistant(m),
                _ => string.Empty,
            });
        }
    }

    private static void If(bool condition, StringBuilder s, string text)
    {
        if (condition)
        {
            s.Append(text);
        }
    }

    /// <summary>Whitespace trimmed at both ends as C's isspace sees it (ASCII only).</summary>
    private static string Trim(string text) => text.Trim(' ', '\t', '\n', '\v', '\f', '\r');

    private static string CapitalizeFirstAscii(string role) =>
        role.Length > 0 && role[0] is >= 'a' and <= 'z' ? char.ToUpperInvariant(role[0]) + role[1..] : role;

    private static string UpperAscii(string role) =>
        string.Create(role.Length, role, (span, r) =>
        {
            for (var i = 0; i < r.Length; i++)
            {
                span[i] = r[i] is >= 'a' and <= 'z' ? (char)(r[i] - 32) : r[i];
            }
        });
}
