// Japanese and English text of the page. Elements carry data-i18n="key";
// dynamic text goes through t(key, params). Japanese is the default for
// browsers that prefer it; the choice is remembered on the device.

const MESSAGES = {
  en: {
    title: "Quick test",
    language: "Language",
    loading: "Loading…",
    offlinePreview: "Offline preview: every answer is a recorded response, not a real model.",
    networkDown: "No network connection. Your photo is kept; it is sent when you are back online.",
    signInPrompt: "Sign in with your account to test the model.",
    signIn: "Sign in",
    signOut: "Sign out",
    signedInAs: "Signed in as",
    mode: "What to look for",
    modeLabels: "Custom labels",
    modeSearch: "Who is this? (face search)",
    modeAnalyze: "Face analysis",
    modeCodes: "Read a code / ISBN",
    noCodes: "No QR code or barcode was found. Hold the code flat, fill more of the photo with it and avoid glare.",
    codesNote: "Read on the spot by a decoder: exact, with no model to start.",
    codeFormat_text: "Printed ISBN",
    codeFromText: "read from the printed text",
    isbnBoth: "ISBN-13 {isbn13} · ISBN-10 {isbn10}",
    isbnOnly13: "ISBN-13 {isbn13} (979: no ISBN-10)",
    textSearchFailed: "The printed-text search did not answer this time; barcodes are shown.",
    takePhoto: "Take a photo",
    chooseFile: "Choose a file",
    threshold: "Confidence threshold",
    retry: "Try again",
    cancel: "Cancel",
    signInAgain: "Sign in again",
    results: "Results",
    photoAlt: "The photo that was sent",
    sent: "Sent {width} × {height} px, {size} (original {originalWidth} × {originalHeight} px)",
    preparing: "Preparing the photo…",
    uploading: "Uploading…",
    asking: "Asking the model…",
    done: "Done.",
    belowThreshold: "{count} more below the threshold.",
    noLabels: "No labels at or above {threshold}%.",
    largestFaceNote: "Only the largest face in the photo was searched.",
    noFace: "No face was found in the photo.",
    personMatch: "{person} ({similarity}% similar)",
    unknownPerson: "A registered face without a name ({face})",
    noMatch: "The face is not in the collection.",
    faceN: "Face {n}",
    age: "Age {low}–{high}",
    emotions: "Emotions",
    smile: "Smiling",
    eyeglasses: "Glasses",
    box: "{name}, {confidence}%",
    starting: "The model is starting (this takes a few minutes). Trying again in {seconds} s.",
    notRunning: "The model is not running. Trying again in {seconds} s.",
    throttled: "Too many requests right now. Trying again in {seconds} s.",
    busy: "The service did not answer in time. Trying again in {seconds} s.",
    noModel: "No model has been promoted for this stage yet. Ask an administrator to train and promote one.",
    sessionExpired: "Your session has expired. Sign in again; choose the photo again afterwards.",
    network: "The request did not reach the server (network down?).",
    uploadFailed: "The photo could not be uploaded (HTTP {status}).",
    server: "The service could not answer ({code}). Try again later.",
    rejected: "The photo was rejected: {reason}",
    reject_unsupported_format: "it is not a photo this page can read ({detail}). Use JPEG or PNG.",
    reject_image_too_small: "it is too small ({width} × {height} px); each side needs at least {min} px.",
    reject_image_aspect_ratio: "it is too long and thin ({ratio}:1); at most {max}:1 is allowed.",
    reject_image_too_large: "it is larger than the model accepts even after shrinking ({size}).",
    reject_server: "{message}",
    signInFailed: "Sign-in did not complete: {message}",
    configMissing: "This page has no configuration (config.json): {message}",
    isThisRight: "Is this right?",
    reviewRequested: "The model was unsure: this photo was sent to the reviewers.",
    theRightLabel: "What the photo really shows",
    somethingElse: "Something else",
    otherLabel: "Label",
    choice: "{name} ({confidence}%)",
    sendFeedback: "Send",
    sendingFeedback: "Sending…",
    feedbackThanks: "Thank you. The photo was added for review as “{label}”.",
    newLabelHint: "“{label}” is a new label; a reviewer will check it.",
    invalidLabel: "A label is 1–100 letters, digits, spaces, “_”, “-” or “.”, starting with a letter or digit.",
    feedbackExpired: "The photo is no longer on the server (uploads expire). Take or choose it again.",
    reviewQueue: "Review queue",
    loadReview: "Show photos waiting for review",
    reviewLoading: "Loading…",
    reviewEmpty: "No photos are waiting for review.",
    reviewCount: "{count} photo(s) waiting.",
    reviewPhoto: "Photo to review",
    suggested: "Suggested: {label}",
    unsorted: "No label yet",
    modelSaid: "The model said {label} ({confidence}%)",
    fromPerson: "Sent by a person",
    fromModel: "Low-confidence answer",
    confirm: "Confirm",
    correctTo: "Correct to",
    correct: "Correct",
    discard: "Discard",
    reviewConfirmed: "Confirmed as “{label}”.",
    reviewDiscarded: "Discarded.",
    reviewTaken: "Someone else reviewed this photo first.",
    notReviewer: "Only reviewers may review photos.",
  },
  ja: {
    title: "クイックテスト",
    language: "言語",
    loading: "読み込み中…",
    offlinePreview: "オフラインプレビュー：結果はすべて録画済みの応答で、実際のモデルではありません。",
    networkDown: "ネットワークに接続されていません。写真は保持され、接続が戻ると送信されます。",
    signInPrompt: "モデルを試すにはアカウントでサインインしてください。",
    signIn: "サインイン",
    signOut: "サインアウト",
    signedInAs: "サインイン中：",
    mode: "調べる内容",
    modeLabels: "カスタムラベル",
    modeSearch: "この人は誰？（顔検索）",
    modeAnalyze: "顔の分析",
    modeCodes: "コード・ISBN を読む",
    noCodes: "QR コードやバーコードが見つかりませんでした。コードを平らにし、写真いっぱいに写して、反射を避けてください。",
    codesNote: "デコーダーがその場で読み取ります。正確で、モデルの起動を待ちません。",
    codeFormat_text: "印刷された ISBN",
    codeFromText: "印刷された文字から読み取り",
    isbnBoth: "ISBN-13 {isbn13}・ISBN-10 {isbn10}",
    isbnOnly13: "ISBN-13 {isbn13}（979 のため ISBN-10 なし）",
    textSearchFailed: "今回は印刷文字の検索が応答しませんでした。バーコードの結果を表示しています。",
    takePhoto: "写真を撮る",
    chooseFile: "ファイルを選ぶ",
    threshold: "信頼度のしきい値",
    retry: "もう一度試す",
    cancel: "キャンセル",
    signInAgain: "もう一度サインイン",
    results: "結果",
    photoAlt: "送信した写真",
    sent: "{width} × {height} px、{size} を送信（元の写真 {originalWidth} × {originalHeight} px）",
    preparing: "写真を準備しています…",
    uploading: "アップロード中…",
    asking: "モデルに問い合わせています…",
    done: "完了しました。",
    belowThreshold: "しきい値未満のラベルがあと {count} 件あります。",
    noLabels: "{threshold}% 以上のラベルはありません。",
    largestFaceNote: "写真の中で一番大きな顔だけを検索しました。",
    noFace: "写真に顔が見つかりませんでした。",
    personMatch: "{person}（類似度 {similarity}%）",
    unknownPerson: "名前のない登録済みの顔（{face}）",
    noMatch: "この顔はコレクションに登録されていません。",
    faceN: "顔 {n}",
    age: "年齢 {low}〜{high} 歳",
    emotions: "感情",
    smile: "笑顔",
    eyeglasses: "眼鏡",
    box: "{name}、{confidence}%",
    starting: "モデルを起動しています（数分かかります）。{seconds} 秒後に再試行します。",
    notRunning: "モデルが起動していません。{seconds} 秒後に再試行します。",
    throttled: "リクエストが集中しています。{seconds} 秒後に再試行します。",
    busy: "サービスが時間内に応答しませんでした。{seconds} 秒後に再試行します。",
    noModel: "このステージにはまだ公開されたモデルがありません。管理者にモデルの学習と公開を依頼してください。",
    sessionExpired: "セッションの有効期限が切れました。もう一度サインインし、写真を選び直してください。",
    network: "リクエストがサーバーに届きませんでした（ネットワークが切断されていませんか？）。",
    uploadFailed: "写真をアップロードできませんでした（HTTP {status}）。",
    server: "サービスが応答できませんでした（{code}）。しばらくしてから再試行してください。",
    rejected: "写真は受け付けられませんでした：{reason}",
    reject_unsupported_format: "このページで読めない形式です（{detail}）。JPEG か PNG を使ってください。",
    reject_image_too_small: "小さすぎます（{width} × {height} px）。各辺 {min} px 以上が必要です。",
    reject_image_aspect_ratio: "細長すぎます（{ratio}:1）。{max}:1 までです。",
    reject_image_too_large: "縮小してもモデルの上限を超えます（{size}）。",
    reject_server: "{message}",
    signInFailed: "サインインが完了しませんでした：{message}",
    configMissing: "このページの設定（config.json）がありません：{message}",
    isThisRight: "この結果は正しいですか？",
    reviewRequested: "モデルの確信度が低かったため、この写真はレビュー担当者に送られました。",
    theRightLabel: "写真に実際に写っているもの",
    somethingElse: "その他",
    otherLabel: "ラベル",
    choice: "{name}（{confidence}%）",
    sendFeedback: "送信",
    sendingFeedback: "送信しています…",
    feedbackThanks: "ありがとうございます。写真を「{label}」としてレビューに追加しました。",
    newLabelHint: "「{label}」は新しいラベルです。レビュー担当者が確認します。",
    invalidLabel: "ラベルは 1〜100 文字の文字・数字・空白・「_」「-」「.」で、先頭は文字か数字です。",
    feedbackExpired: "写真はもうサーバーにありません（アップロードには期限があります）。もう一度撮るか選んでください。",
    reviewQueue: "レビュー待ち",
    loadReview: "レビュー待ちの写真を表示",
    reviewLoading: "読み込み中…",
    reviewEmpty: "レビュー待ちの写真はありません。",
    reviewCount: "レビュー待ちの写真：{count} 枚",
    reviewPhoto: "レビューする写真",
    suggested: "提案されたラベル：{label}",
    unsorted: "ラベルなし",
    modelSaid: "モデルの答え：{label}（{confidence}%）",
    fromPerson: "利用者からの指摘",
    fromModel: "確信度の低い答え",
    confirm: "確定",
    correctTo: "正しいラベル",
    correct: "修正",
    discard: "破棄",
    reviewConfirmed: "「{label}」として確定しました。",
    reviewDiscarded: "破棄しました。",
    reviewTaken: "この写真は他の人が先にレビューしました。",
    notReviewer: "写真をレビューできるのはレビュー担当者だけです。",
  },
};

const EMOTIONS = {
  en: { HAPPY: "happy", SAD: "sad", ANGRY: "angry", CONFUSED: "confused", DISGUSTED: "disgusted", SURPRISED: "surprised", CALM: "calm", FEAR: "afraid", UNKNOWN: "unknown" },
  ja: { HAPPY: "喜び", SAD: "悲しみ", ANGRY: "怒り", CONFUSED: "困惑", DISGUSTED: "嫌悪", SURPRISED: "驚き", CALM: "穏やか", FEAR: "恐れ", UNKNOWN: "不明" },
};

const STORAGE_KEY = "quick-test-language";
let current = "en";

export function initialLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && saved in MESSAGES) return saved;
  return (navigator.languages || [navigator.language]).some((l) => l && l.startsWith("ja")) ? "ja" : "en";
}

export function setLanguage(language) {
  current = language in MESSAGES ? language : "en";
  localStorage.setItem(STORAGE_KEY, current);
  document.documentElement.lang = current;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  document.title = t("title");
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const template = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function emotion(type) {
  return EMOTIONS[current][type] ?? type.toLowerCase();
}

export function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MB`;
}
