// The sign-in form: POST /v1/auth/login sets the session cookie; then back to the page that sent us here.
import { api, ApiError } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only a page of this site: never an open redirect (`//evil`, `/\\evil`, an absolute URL).
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin && next.startsWith("/") && !/^\/[\/\\]/.test(next) ? url.pathname + url.hash : "/";
  } catch {
    return "/";
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const button = document.getElementById("login-submit");
  button.disabled = true;
  try {
    await api("/v1/auth/login", {
      method: "POST",
      body: { username: form.username.value.trim(), password: form.password.value },
    });
    location.assign(nextPage());
  } catch (exc) {
    const messages = {
      invalid_credentials: "用户名或密码错误",
      account_locked: "登录失败次数过多，账号已锁定，请稍后再试或联系管理员解锁",
      validation_error: "请输入用户名和密码",
    };
    error.textContent = exc instanceof ApiError ? messages[exc.code] || exc.message : "无法连接服务";
    if (exc instanceof ApiError && exc.code === "account_locked" && exc.details?.retry_after_seconds) {
      error.textContent += `（约 ${Math.ceil(exc.details.retry_after_seconds / 60)} 分钟）`;
    }
    error.hidden = false;
    form.password.value = "";
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
